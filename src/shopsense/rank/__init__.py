"""shopsense.rank"""
