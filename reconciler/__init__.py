"""morpheus-reconciler: GitOps for resale providers on the Morpheus marketplace.

The package face holds the version and the one tree of expected failures. Every error the reconciler raises
on purpose is a `ReconcileError`, in a family named for what the person running it must do; the commands map
them to messages and exit codes in one place (`commands/outcome.py`). Messages never hold a secret.
"""

__version__ = "0.1.0"


class ReconcileError(Exception):
    """An expected failure, said in words for a person; nothing was half-done without a journal entry."""


class DesiredStateInvalid(ReconcileError):
    """Fix the desired state, or the values it refers to (env:/file: references, keys, amounts)."""


class EndpointUnusable(ReconcileError):
    """Fix the network settings or the endpoint: the RPC node, the contracts found there, a proxy's API."""


class LockBusy(ReconcileError):
    """Another writer holds the provider's lock: wait for it, or resolve it."""


class StateUnusable(ReconcileError):
    """Fix the --state-dir: its lock, journal or ledger cannot be read, written or trusted (nothing was sent)."""


class GuardRefused(ReconcileError):
    """A safety guard said no (plan errors, budget, a stale saved plan, no confirmation): nothing was sent."""


class TransactionFailed(ReconcileError):
    """A transaction could not be sent, reverted, or was not mined in time (the journal knows what was sent)."""
