"""A plan is plain data, like Terraform's internal/plans: renderers, the saved plan file and the applier
each consume it. Frozen dataclasses; money in int wei; no secret ever (key fingerprints only).

Every action carries what it acts on as a `Subject`, one frozen reference type per kind of thing (`ProviderRef`,
`ModelRef`, `BidRef`, `ProxyFileRef`, `ProxyEntryRef`), and, where apply needs values, a typed `value` (a
bid's price in wei, an allowance, a proxy write's entries); `after` is the same value as plain data, for the
renderers and the saved plan. Ids are built here and in the planner only; nothing outside plan/ parses them
(the codec reads the subjects of a plan saved before subjects were written out of their ids).

Action ids (stable, and what `depends_on` refers to):
  mor.approve                      after: {allowance (what the plan spends, or policy.allowance), spender}
  provider.register|update         after: {address, endpoint, stake (total)}; cost.stake = amount to send
  provider.deregister
  model.register:<modelId>         after: {modelId, baseModelId, name, ipfsCID, fee, stake (total), tags};
  model.update:<modelId>             cost.stake = the amount argument of modelRegister
  model.deregister:<modelId>
  bid.post:<modelId>               after: {provider, modelId, pricePerSecond}; before: the bid it replaces
  bid.delete:<bidId>               before: {bidId, modelId, pricePerSecond, nonce}
  proxy.write-config:forwarder|router        after: {entries: [changed entries, fingerprints only]}
  proxy.remove:forwarder|router:<modelId>    an entry leaving a file (after its bids are deleted; kind proxy.remove)
  proxy.unmanaged:forwarder|router:<modelId> an undeclared entry kept as it is (kind proxy.unmanaged, status
                                             unmanaged; shown and saved as proxy.write-config)
  proxy.reload:forwarder|router, proxy.restart-required:router
Actions are in execution order: pending ones first (approve, provider, models, proxy writes and reloads,
bid posts, bid deletes, proxy removals, model then provider deregistrations), then reported ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

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
    PROXY_REMOVE = "proxy.remove"
    PROXY_RELOAD = "proxy.reload"
    PROXY_RESTART_REQUIRED = "proxy.restart-required"
    PROXY_UNMANAGED = "proxy.unmanaged"  # an undeclared entry kept as it is: only reported, never executed

    @property
    def shown(self) -> str:
        """The name renderers print and saved plans hold. An unmanaged entry keeps the one format_version 1 gave
        it before it was a kind of its own (proxy.write-config), so the output and the files stay as they were."""
        return ActionKind.PROXY_WRITE_CONFIG.value if self is ActionKind.PROXY_UNMANAGED else self.value


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
DELETE_KINDS = frozenset(
    {ActionKind.PROVIDER_DEREGISTER, ActionKind.MODEL_DEREGISTER, ActionKind.BID_DELETE, ActionKind.PROXY_REMOVE}
)


class ProxyFile(StrEnum):
    """Which models-config an action writes, reloads or removes an entry from."""

    FORWARDER = "forwarder"
    ROUTER = "router"


@dataclass(frozen=True)
class ProviderRef:
    """The provider (its registration, or the MOR allowance its wallet gives the Diamond)."""

    address: str


@dataclass(frozen=True)
class ModelRef:
    """A model: its registration, or its bid (a bid to post has no id yet)."""

    model_id: str


@dataclass(frozen=True)
class BidRef:
    """A bid on chain, and the model it is on."""

    bid_id: str
    model_id: str


@dataclass(frozen=True)
class ProxyFileRef:
    """A whole models-config file (the forwarder's or the router's): its write or its reload."""

    proxy: ProxyFile


@dataclass(frozen=True)
class ProxyEntryRef:
    """A model's entry in a models-config file."""

    proxy: ProxyFile
    model_id: str


# What an action acts on: one reference type per kind of thing, each with exactly the fields it has.
Subject: TypeAlias = ProviderRef | ModelRef | BidRef | ProxyFileRef | ProxyEntryRef


def model_of(subject: Subject) -> str | None:
    """The model an action concerns (a model, its bid, or its entry in a file); None for the provider or a file."""
    match subject:
        case ModelRef(model_id=mid) | BidRef(model_id=mid) | ProxyEntryRef(model_id=mid):
            return mid
    return None


def proxy_of(subject: Subject) -> ProxyFile | None:
    """The models-config file an action writes, reloads or removes an entry from; None for the chain's."""
    match subject:
        case ProxyFileRef(proxy=f) | ProxyEntryRef(proxy=f):
            return f
    return None


@dataclass(frozen=True)
class Allowance:
    """mor.approve: the allowance to set (what the plan spends, or the standing policy.allowance), and for whom."""

    amount: int
    spender: str

    def as_after(self) -> dict[str, Any]:
        return {"allowance": self.amount, "spender": self.spender}


@dataclass(frozen=True)
class ProviderValues:
    """provider.register|update: the provider as it should be (stake is the total, not the amount added)."""

    address: str
    endpoint: str
    stake: int

    def as_after(self) -> dict[str, Any]:
        return {"address": self.address, "endpoint": self.endpoint, "stake": self.stake}


@dataclass(frozen=True)
class ModelValues:
    """model.register|update: the model's registration as it should be (stake is the total)."""

    model_id: str
    base_model_id: str | None
    name: str | None
    ipfs_cid: str
    fee: int
    stake: int
    tags: tuple[str, ...]

    def as_after(self) -> dict[str, Any]:
        return {
            "modelId": self.model_id,
            "baseModelId": self.base_model_id,
            "name": self.name,
            "ipfsCID": self.ipfs_cid,
            "fee": self.fee,
            "stake": self.stake,
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class BidValues:
    """bid.post: the bid to post; the price is None only when it cannot be computed (then the action has an error)."""

    provider: str
    model_id: str
    price_per_second: int | None

    def as_after(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": self.provider, "modelId": self.model_id}
        if self.price_per_second is not None:
            out["pricePerSecond"] = self.price_per_second
        return out


@dataclass(frozen=True)
class ProxyEntries:
    """proxy.write-config: the new or changed entries (key fingerprints only)."""

    entries: tuple[Mapping[str, Any], ...]

    def as_after(self) -> dict[str, Any]:
        return {"entries": [dict(e) for e in self.entries]}


ActionValue: TypeAlias = Allowance | ProviderValues | ModelValues | BidValues | ProxyEntries


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
    """One change. `id` is stable for a given desired/observed pair; `depends_on` lists ids to run first.

    Give `value` and `after` follows from it; `after` alone is for what is shown but not acted on.
    """

    id: str
    kind: ActionKind
    target: str
    reason: str
    subject: Subject
    value: ActionValue | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    cost: Cost = ZERO
    status: Status = Status.PENDING
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    until: int | None = None  # for held/draining: the unix time it is expected to clear, when known

    def __post_init__(self) -> None:
        if self.value is not None and self.after is None:
            object.__setattr__(self, "after", self.value.as_after())

    @property
    def pending(self) -> bool:
        return self.status is Status.PENDING

    @property
    def verb(self) -> str:
        if self.kind in CREATE_KINDS and self.before is None:
            return "create"
        if self.kind in DELETE_KINDS:
            return "delete"
        return "update"


@dataclass(frozen=True)
class ManualStep:
    """An action only a person can take (status manual: the provider wallet's `reconcile approve`), and why."""

    action_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.action_id}: {self.reason}"


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
    proxy_note: str | None = None  # why the forwarder's admin API was not read (with proxy_observed False)
    sources: tuple[str, ...] = field(default=())
    rpc_round_trips: int = 0
    market: MarketParams | None = None  # the fee, minimums and bounds the plan was costed with

    @property
    def proxy_unchecked(self) -> str | None:
        """The words "proxy not checked (why)" when the forwarder's admin API could not be read, else None: the
        plan then covers the chain and the files only, and never says there is nothing to change."""
        if self.proxy_observed:
            return None
        return f"proxy not checked ({self.proxy_note or 'unreachable'})"

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
