"""shopsense.evaluate"""
