"""shopsense.store"""
