"""The marketplace's arithmetic as pure functions: MOR units, on-chain ids, bid prices."""
