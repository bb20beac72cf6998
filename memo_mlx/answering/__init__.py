"""Answering with memories: the executive consults them (`recall`), reads passages with the
reader adapter (`reader`), and declines what nothing supports (`abstain`).
"""
