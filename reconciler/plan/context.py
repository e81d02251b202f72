"""What every planning step shares: the inputs, the actions so far, warnings and errors, and wording helpers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from reconciler.desired.model import Desired, ModelSpec
from reconciler.market.policy import NO_MARKET, MarketInputs
from reconciler.market.pricing import bid_price, to_fraction
from reconciler.market.units import format_mor
from reconciler.observe.model import Observed
from reconciler.plan.gas import gas_for
from reconciler.plan.model import CHAIN_KINDS, Action, ActionKind

if TYPE_CHECKING:
    from reconciler.plan.market_prices import Verdict
    from reconciler.plan.unserved import Serving

RIGHT_NEEDED_BY_KIND = {  # the delegation right a delegate signer needs for each chain action
    ActionKind.PROVIDER_REGISTER: "provider",
    ActionKind.PROVIDER_UPDATE: "provider",
    ActionKind.PROVIDER_DEREGISTER: "provider",
    ActionKind.MODEL_REGISTER: "model",
    ActionKind.MODEL_UPDATE: "model",
    ActionKind.MODEL_DEREGISTER: "model",
    ActionKind.BID_POST: "marketplace",
    ActionKind.BID_DELETE: "marketplace",
}


@dataclass
class Context:
    """The planner's scratch pad: `add` costs gas and checks delegation rights for every chain action."""

    desired: Desired
    observed: Observed
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    serving: Serving | None = None  # the watcher's memory of since when each model is (not) served
    market: MarketInputs = NO_MARKET  # the competing bids, for bid.market (reconciler.plan.market_prices)
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # model id -> how its bid.market was priced
    _prices: dict[str, int | None] = field(default_factory=dict)

    def bid_price(self, m: ModelSpec) -> int | None:
        """The model's bid price in wei/s, computed once per plan (None: no bid, or its MOR/USD rate is unknown;
        a market bid's is set by the market step, and is None when it has none to post)."""
        if m.model_id not in self._prices:
            if m.bid is not None and m.bid.market is not None:
                return None
            self._prices[m.model_id] = None if m.bid is None else bid_price(m.bid, self.mor_usd(m))
        return self._prices[m.model_id]

    def set_price(self, m: ModelSpec, price: int | None) -> None:
        self._prices[m.model_id] = price

    def mor_usd(self, m: ModelSpec) -> Fraction | None:
        """The MOR/USD rate a cost-model bid refers to, read from the resolved references (None: not known here)."""
        cm = m.bid.rate_cost_model if m.bid else None
        if cm is None or isinstance(cm.mor_usd, Fraction):
            return None
        raw = self.observed.refs.values.get(str(cm.mor_usd))
        try:
            value = to_fraction(raw) if raw else None
        except (ValueError, ZeroDivisionError):
            value = None
        return value if value and value > 0 else None

    def add(self, action: Action) -> Action:
        if action.kind in CHAIN_KINDS:
            gas = gas_for(action.kind)
            chain = self.observed.chain
            l1 = chain.l1_fee_by_kind
            gas_wei = gas * chain.fee_per_gas + l1.get(action.kind.value, l1.get(ActionKind.BID_POST.value, 0))
            action = replace(action, cost=replace(action.cost, gas=gas, gas_wei=gas_wei))
            right = RIGHT_NEEDED_BY_KIND.get(action.kind)
            if right and chain.delegation is not None and not chain.delegation.get(right, False):
                action = replace(
                    action,
                    errors=(
                        *action.errors,
                        f"the signer {self.desired.signer.address} has no '{right}' delegation rights from "
                        f"{self.desired.provider.address} (delegate.xyz registry); grant them with the provider "
                        f"wallet's key: `{delegate_command(self.desired)}`",
                    ),
                )
        self.actions.append(action)
        return action


def delegate_command(desired: Desired) -> str:
    """The exact command that grants the rights a desired state needs (`reconcile delegate`)."""
    return f"reconcile delegate {_where(desired)} grant --key-ref file:PROVIDER_KEY_FILE"


def approve_command(desired: Desired) -> str:
    """The exact command that approves the MOR a plan asks of the provider wallet (`reconcile approve`)."""
    return f"reconcile approve {_where(desired)} --key-ref file:PROVIDER_KEY_FILE"


def _where(desired: Desired) -> str:
    return desired.sources[0] if len(desired.sources) == 1 else "PATH"


def mor(wei: int) -> str:
    """An amount for humans: `0.3 MOR`."""
    return format_mor(wei)


def utc(ts: int) -> str:
    """A unix time as readable UTC (pure: no clock is read)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
