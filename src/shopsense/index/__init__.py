"""shopsense.index"""
