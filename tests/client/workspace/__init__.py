"""The workspace side of the client against a canary-keyed strict sandbox over real loopback HTTP:
every operation, the faults, the event streams (fixtures in conftest.py, helpers in helpers.py)."""
