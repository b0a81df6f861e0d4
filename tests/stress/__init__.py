"""Stress tests: many threads and many asyncio tasks on one verifier, with bounded work."""
