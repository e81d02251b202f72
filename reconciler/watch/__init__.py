"""`reconcile watch`: the long-running loop, what wakes it, what it may do, and what it reports."""
