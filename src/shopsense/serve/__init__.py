"""shopsense.serve"""
