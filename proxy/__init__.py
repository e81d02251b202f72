"""morpheus-proxy: a small, fast aiohttp forwarder from OpenAI-shaped requests to hosted upstreams.

It shares no code with `reconciler`; the two meet only in the models-config format (schemas/).
"""

__version__ = "0.1.0"
