"""Sessions and earnings: the SessionRouter's payment rules, claims, and the status screen built on them."""
