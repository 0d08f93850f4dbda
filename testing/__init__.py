"""drydock.testing: what users put in their own test suites (virtual time, fixtures, strategies).

Kept import-light: the 1.2.9 client environment imports it without torch or the server.
"""
