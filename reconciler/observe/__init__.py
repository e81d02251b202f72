"""Observation: `Observed` (the world as plain values), the observers of the forwarder and the router, and the
forwarder's admin API client (`forwarder_admin.py`) with its metrics parser (`prometheus.py`).

The chain's reader lives with the chain adapter (`chain/reader.py`); `world.observe()` gathers everything.
"""
