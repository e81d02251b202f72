"""A plan is plain data, like Terraform's internal/plans: renderers, the saved plan file and the applier
each consume it. Frozen dataclasses; money in int wei; no secret ever (key fingerprints only).

Action ids (stable, and what `depends_on` refers to):
  mor.approve                      after: {allowance (exact wei needed), spender}
  provider.register|update         after: {address, endpoint, stake (total)}; cost.stake = amount to send
  provider.deregister
  model.register:<modelId>         after: {modelId, baseModelId, name, ipfsCID, fee, stake (total), tags};
  model.update:<modelId>             cost.stake = the amount argument of modelRegister
  model.deregister:<modelId>
  bid.post:<modelId>               after: {provider, modelId, pricePerSecond}; before: the bid it replaces
  bid.delete:<bidId>               before: {bidId, modelId, pricePerSecond, nonce}
  proxy.write-config:forwarder|router        after: {entries: [changed entries, fingerprints only]}
  proxy.remove:forwarder|router:<modelId>    an entry leaving a file (after its bids are deleted)
  proxy.unmanaged:forwarder|router:<modelId> an undeclared entry kept as it is (status unmanaged)
  proxy.reload:forwarder|router, proxy.restart-required:router
Actions are in execution order: pending ones first (approve, provider, models, proxy writes and reloads,
bid posts, bid deletes, proxy removals, model then provider deregistrations), then reported ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.observe.model import MarketParams

FORMAT_VERSION = 1


class ActionKind(StrEnum):
    MOR_APPROVE = "mor.approve"
    PROVIDER_REGISTER = "provider.register"
    PROVIDER_UPDATE = "provider.update"
    PROVIDER_DEREGISTER = "provider.deregister"
    MODEL_REGISTER = "model.register"
    MODEL_UPDATE = "model.update"
    MODEL_DEREGISTER = "model.deregister"
    BID_POST = "bid.post"
    BID_DELETE = "bid.delete"
    PROXY_WRITE_CONFIG = "proxy.write-config"
    PROXY_RELOAD = "proxy.reload"
    PROXY_RESTART_REQUIRED = "proxy.restart-required"


CHAIN_KINDS = frozenset(
    {
        ActionKind.MOR_APPROVE,
        ActionKind.PROVIDER_REGISTER,
        ActionKind.PROVIDER_UPDATE,
        ActionKind.PROVIDER_DEREGISTER,
        ActionKind.MODEL_REGISTER,
        ActionKind.MODEL_UPDATE,
        ActionKind.MODEL_DEREGISTER,
        ActionKind.BID_POST,
        ActionKind.BID_DELETE,
    }
)
CREATE_KINDS = frozenset({ActionKind.PROVIDER_REGISTER, ActionKind.MODEL_REGISTER, ActionKind.BID_POST})
DELETE_KINDS = frozenset({ActionKind.PROVIDER_DEREGISTER, ActionKind.MODEL_DEREGISTER, ActionKind.BID_DELETE})


class Status(StrEnum):
    """Only PENDING actions are executed by apply; the others are reported (docs/architecture.md, "Stable interfaces")."""

    PENDING = "pending"
    HELD = "held"
    DRAINING = "draining"
    UNMANAGED = "unmanaged"
    MANUAL = "manual"
    RESTART_REQUIRED = "restart-required"


@dataclass(frozen=True)
class Cost:
    """What an action costs: MOR paid as bid fees (kept by the marketplace), MOR locked as stake (negative = refunded), gas."""

    fee: int = 0
    stake: int = 0
    gas: int = 0
    gas_wei: int = 0

    @property
    def mor_out(self) -> int:
        """MOR leaving the payer's wallet (fees plus stake added)."""
        return self.fee + max(self.stake, 0)

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.fee + other.fee, self.stake + other.stake, self.gas + other.gas, self.gas_wei + other.gas_wei)


ZERO = Cost()


@dataclass(frozen=True)
class Action:
    """One change. `id` is stable for a given desired/observed pair; `depends_on` lists ids to run first."""

    id: str
    kind: ActionKind
    target: str
    reason: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    cost: Cost = ZERO
    status: Status = Status.PENDING
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    until: int | None = None  # for held/draining: the unix time it is expected to clear, when known

    @property
    def pending(self) -> bool:
        return self.status is Status.PENDING

    @property
    def verb(self) -> str:
        if self.kind in CREATE_KINDS and self.before is None:
            return "create"
        if self.kind in DELETE_KINDS or (self.kind is ActionKind.PROXY_WRITE_CONFIG and self.after is None):
            return "delete"
        return "update"


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    chain_id: int
    diamond: str
    mor: str
    provider: str
    signer: str

    @property
    def delegate(self) -> bool:
        return self.provider.lower() != self.signer.lower()


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class Summary:
    create: int
    update: int
    delete: int
    fees: int
    stake: int
    gas: int
    gas_wei: int
    mor_out: int
    held: int
    draining: int
    unmanaged: int
    manual: int
    restart_required: int


@dataclass(frozen=True)
class Plan:
    network: NetworkInfo
    block: BlockRef
    actions: tuple[Action, ...]
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    observed_fingerprint: str = ""
    proxy_observed: bool = True
    sources: tuple[str, ...] = field(default=())
    rpc_round_trips: int = 0
    market: MarketParams | None = None  # the fee, minimums and bounds the plan was costed with

    @property
    def pending(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.pending)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(a.errors for a in self.actions if a.status is not Status.UNMANAGED)

    def summary(self) -> Summary:
        pending = self.pending
        total = sum((a.cost for a in pending), ZERO)

        def count(status: Status) -> int:
            return sum(1 for a in self.actions if a.status is status)

        return Summary(
            create=sum(1 for a in pending if a.verb == "create"),
            update=sum(1 for a in pending if a.verb == "update"),
            delete=sum(1 for a in pending if a.verb == "delete"),
            fees=total.fee,
            stake=total.stake,
            gas=total.gas,
            gas_wei=total.gas_wei,
            mor_out=total.mor_out,
            held=count(Status.HELD),
            draining=count(Status.DRAINING),
            unmanaged=count(Status.UNMANAGED),
            manual=count(Status.MANUAL),
            restart_required=count(Status.RESTART_REQUIRED),
        )
