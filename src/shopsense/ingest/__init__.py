"""shopsense.ingest"""
