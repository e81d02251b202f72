"""morpheus-reconciler: GitOps for resale providers on the Morpheus marketplace."""

__version__ = "0.1.0"
