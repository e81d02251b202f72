"""Observers: read the chain (batched JSON-RPC) and the proxy (files, admin API) into `Observed` values."""
