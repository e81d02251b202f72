"""The desired state: the operator's YAML, loaded, validated and turned into plain typed values."""
