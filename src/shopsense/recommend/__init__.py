"""shopsense.recommend"""
