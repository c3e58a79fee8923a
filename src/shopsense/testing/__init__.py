"""shopsense.testing"""
