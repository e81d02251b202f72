"""The forwarder's measured tokens per second, for bids whose cost model says `tokensPerSecond: measured`.

Read from its `/metrics` (tokens and seconds served per model since it started; reconciler.observe.usage) only
when a model asks for it; reading never raises: a forwarder that cannot be read gives no rates and a note, and
those models are priced at their fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from reconciler.desired.model import Desired
from reconciler.market.ids import norm_hex
from reconciler.market.margin import measured_rate
from reconciler.observe.forwarder_admin import AdminCallFailed, ForwarderAdmin
from reconciler.observe.usage import usage_of


def wants_measured(desired: Desired) -> list[str]:
    """The model ids (lower 0x hex) whose bid's cost model is priced at the measured rate."""
    out = []
    for m in desired.models:
        cm = m.bid.cost_model if m.bid is not None and not m.absent else None
        if cm is not None and cm.per_token is not None and cm.per_token.measured:
            out.append(norm_hex(m.model_id))
    return out


def measured_rates(
    desired: Desired, environ: Mapping[str, str] | None = None, timeout: float = 5.0
) -> tuple[dict[str, Fraction], str]:
    """Rates by model id for the models that want one and have been served long enough, and why none could be
    read ("" when they were, or when no model wants one)."""
    wanted = wants_measured(desired)
    if not wanted:
        return {}, ""
    admin = ForwarderAdmin.of(desired, environ)
    if admin is None:
        return {}, "no proxy.adminUrl to read the forwarder's /metrics"
    try:
        usage = usage_of(admin.metrics(timeout))
    except AdminCallFailed as exc:
        return {}, str(exc)
    rates = {mid: rate for mid in wanted if mid in usage and (rate := measured_rate(usage[mid])) is not None}
    return rates, ""
