"""shopsense.search"""
