"""Observation: `Observed` (the world as plain values) and the observers of the forwarder and the router.

The chain's reader lives with the chain adapter (`chain/reader.py`); `world.observe()` gathers everything.
"""
