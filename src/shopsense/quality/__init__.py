"""shopsense.quality"""
