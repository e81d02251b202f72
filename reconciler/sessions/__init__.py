"""Sessions and earnings: the SessionRouter's payment rules and claims (reconciler.status shows them)."""
