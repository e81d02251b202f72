"""Helpers the tests share (stubs, simulators, factories), imported as `tests.support.<module>`."""
