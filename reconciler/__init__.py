"""morpheus-reconciler: GitOps for resale providers on the Morpheus marketplace.

The package face holds the version, the default state folder and the one tree of expected failures. Every error
the reconciler raises on purpose is a `ReconcileError`, in a family named for what the person running it must
do; every command ends through `commands/outcome.py` (`@handled`), which prints them (`error: ...`) and exits 1.
A bug is an `InternalError` (or any other exception), never a `ReconcileError`: the CLI's `main` prints it as
one line, or its traceback with `reconcile --traceback`. Messages never hold a secret.

    ReconcileError
    ├── DesiredStateInvalid           fix the desired state or what it refers to
    │   ├── ValidationFailed          (desired/diagnostics.py: every diagnostic of a load)
    │   ├── BadReference              (desired/references.py: env:/file: references)
    │   ├── ConfigBuildError          (desired/modelsconfig.py)
    │   ├── AmountError               (market/units.py)
    │   ├── SignerError               (chain/signer.py: the signer's key, a keystore)
    │   └── NotAProvider              (render/desired_yaml.py: import of an address that is no provider)
    ├── EndpointUnusable              fix the network settings or the endpoint
    │   ├── NetworkError              (chain/networks.py)
    │   ├── RpcError                  (chain/endpoint.py: a read failed)
    │   │   └── UndecodableAnswer     (chain/rpc.py: the node answered, not as the ABI says; not a transport failure)
    │   ├── ChainCheckError           (chain/reader.py: the contracts found there)
    │   ├── MarketUnreadable          (chain/market_reader.py: a market read failed or is no struct)
    │   ├── ChainMismatch             (chain/pool.py: endpoints on different chains)
    │   ├── AdminCallFailed           (observe/forwarder_admin.py: the forwarder's admin API, no usable answer)
    │   │   └── UntrustedDestination  (not asked: the token would go to a host the operator does not trust)
    │   ├── ProxyReloadError          (apply/proxy_config.py: a proxy's API refused or did not answer)
    │   ├── GitError                  (watch/gitsync.py)
    │   │   └── NotACheckout
    │   ├── AnvilError                (devnet/anvil.py)
    │   └── DevnetError               (devnet/local.py)
    ├── FileUnusable                  fix a file named by an option or the desired state, outside --state-dir
    │   ├── ProxyWriteError           (apply/proxy_config.py: a models-config that cannot be read or written)
    │   ├── SavedPlanUnreadable       (commands/apply.py: `apply --plan` given no plan saved by `plan --out`)
    │   ├── RatingConfigError         (market/rating.py: a router rating config the router would refuse)
    │   ├── PriceCommandFailed        (observe/price_command.py: --price-command gave no price; the bid stays)
    │   └── BadPriceAnswer            (market/policy.py: a price command's answer that is no price)
    ├── LockBusy                      another writer holds the provider's lock
    │   ├── LockHeld                  (apply/lock.py)
    │   └── WriterConflict            (chain/sender.py: another writer used the signer's nonce)
    ├── StateUnusable                 fix the --state-dir
    │   └── JournalUnreadable         (chain/journal.py)
    ├── GuardRefused                  a safety guard said no: nothing was sent
    │   ├── ApplyError                (apply/refusals.py: plan errors, not confirmed, no terminal...)
    │   │   ├── StalePlan
    │   │   └── ManualStepNeeded
    │   ├── ApproveError              (apply/approve.py)
    │   ├── DelegateError             (apply/delegate.py)
    │   ├── ClaimError                (sessions/claim.py)
    │   └── FleetWriteRefused         (commands/fleet_members.py: a fleet without one --provider; one writer per provider)
    └── TransactionFailed             a transaction could not be sent, reverted, or was not mined in time
        ├── ChainMovedUnderApply      (apply/executor.py: the write would move MOR its plan did not show)
        └── TxError                   (chain/sender.py)
            ├── TxReverted
            ├── TxTimeout
            └── NonceTaken

    InternalError (RuntimeError)      a bug: a state the code never reaches on purpose; not a ReconcileError

(Private subclasses, caught where they are raised or named by the family they join, are left out:
`_TooBig`, `_TooLarge`, `_BudgetRefused`.)
"""

from pathlib import Path

__version__ = "0.1.0"

DEFAULT_STATE_DIR = Path(".reconcile")  # the commands' --state-dir default: journal, lock, model index, ledger


class ReconcileError(Exception):
    """An expected failure, said in words for a person; nothing was half-done without a journal entry."""


class DesiredStateInvalid(ReconcileError):
    """Fix the desired state, or the values it refers to (env:/file: references, keys, amounts)."""


class EndpointUnusable(ReconcileError):
    """Fix the network settings or the endpoint: the RPC node, the contracts found there, a proxy's API."""


class FileUnusable(ReconcileError):
    """Fix a file named by an option or by the desired state that is neither the desired state itself nor under
    --state-dir: a proxy's models-config (its folder, its permissions, its JSON), a saved plan. Not
    `EndpointUnusable`: no endpoint is at fault and none needs fixing; not `StateUnusable`: the --state-dir is
    fine. What was sent before (a write comes after transactions) is in the journal."""


class LockBusy(ReconcileError):
    """Another writer holds the provider's lock: wait for it, or resolve it."""


class StateUnusable(ReconcileError):
    """Fix the --state-dir: its lock, journal or ledger cannot be read, written or trusted (nothing was sent)."""


class GuardRefused(ReconcileError):
    """A safety guard said no (plan errors, budget, a stale saved plan, no confirmation): nothing was sent."""


class TransactionFailed(ReconcileError):
    """A transaction could not be sent, reverted, or was not mined in time (the journal knows what was sent)."""


class InternalError(RuntimeError):
    """A bug: the code met a case it never makes on purpose (an action it cannot execute). Outside the tree on
    purpose: no person can fix it by changing their input, so it is shown as unexpected, never as advice."""
