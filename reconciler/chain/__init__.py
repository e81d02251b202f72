"""The chain adapter: JSON-RPC reads, the provider's reader, calldata, signing, journaled sending."""
