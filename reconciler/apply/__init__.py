"""Apply: execute a plan's pending actions (proxy config writes, journaled transactions) under a lock."""
