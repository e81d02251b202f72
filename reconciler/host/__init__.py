"""What the reconciler asks of the machine it runs on, shared by the stages that need it (the apply lock, the devnet)."""
