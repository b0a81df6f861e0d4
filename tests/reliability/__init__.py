"""Reliability under faults, floods and sharing (issue 10): one module per concern.

Each test runs the library's real shells against loopback servers the test starts
itself, with real threads and event loops, and the behaviour it checks failed before the
fix it guards.
"""
