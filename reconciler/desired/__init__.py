"""The desired state: the operator's YAML, loaded, validated and turned into plain typed values.

Also here: where its errors point (diagnostics), references to values outside the YAML, and the
models-config files a desired state implies for the forwarder and the router.
"""
