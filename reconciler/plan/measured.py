"""Bids priced at the forwarder's measured tokens per second (`perToken.tokensPerSecond: measured`).

Why a step before planning: the rate is an observation (reconciler.observe.measured), so the planner stays a
pure function of desired and observed; this turns each such cost model into the one it prices with, the
measured rate or, until there is one, its `fallbackTokensPerSecond`, and says so when it is the fallback.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.desired.model import Desired
from reconciler.market.ids import norm_hex
from reconciler.market.margin import MIN_MEASURED_SECONDS, with_rate
from reconciler.observe.model import Observed


def with_measured_rates(desired: Desired, observed: Observed) -> tuple[Desired, list[str]]:
    """The desired state with each `measured` cost model at its observed rate, and the warnings for those
    priced at their fallback."""
    warnings: list[str] = []
    models = []
    for m in desired.models:
        cm = m.bid.cost_model if m.bid is not None else None
        if m.bid is None or cm is None or cm.per_token is None or not cm.per_token.measured or m.absent:
            models.append(m)
            continue
        rate = observed.measured_tps.get(norm_hex(m.model_id))
        if rate is None:
            why = observed.measured_note or f"the forwarder has served it less than {MIN_MEASURED_SECONDS} s"
            warnings.append(
                f"model '{m.name or m.key}': tokensPerSecond is measured, but no rate is known here ({why}); "
                f"priced at fallbackTokensPerSecond {cm.per_token.tokens_per_second}"
            )
            models.append(m)
            continue
        models.append(replace(m, bid=replace(m.bid, cost_model=with_rate(cm, rate))))
    return replace(desired, models=tuple(models)), warnings
