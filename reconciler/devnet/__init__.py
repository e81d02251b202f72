"""The local devnet: anvil, the contracts' build and deployment, and a buyer that opens sessions on it."""
