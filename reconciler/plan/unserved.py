"""policy.unserved: what happens to the bids of models nothing serves.

Why: a bid on a model nobody serves sells sessions that fail, and each failed session lowers the provider's success
ratio, which buyers' routers weigh; deleting the bid costs a bid fee to post it again. `alert` (the default) keeps
the bids (the watcher alerts); `withdraw` deletes them once a model has been unserved longer than the grace,
holds their posts while it is unserved, and posts them again once it has been served for the declared time.
Since when a model is (not) served is the watcher's memory (reconciler.watch.serving), given to the planner as
plain data: the planner stays pure, and a plan without that memory (`reconcile plan`) withdraws nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.desired.model import PolicySpec
from reconciler.plan.context import mor, utc


@dataclass(frozen=True)
class Since:
    """Down (not served) or up (served again after a down) since the unix time `at`."""

    down: bool
    at: int


@dataclass(frozen=True)
class Serving:
    """The watcher's memory: the forwarder's, and a model's own (its upstream, by lower-case 0x model id), where
    known. None: never seen down, or not known; nothing is held back for it."""

    forwarder: Since | None = None
    models: Mapping[str, Since] = field(default_factory=dict)

    def of(self, model_id: str) -> Since | None:
        """A model is unserved when the forwarder or its own upstream is down (since the earlier of the two), and
        served again since the later of their recoveries."""
        known = [s for s in (self.forwarder, self.models.get(model_id.lower())) if s is not None]
        downs = [s.at for s in known if s.down]
        if downs:
            return Since(down=True, at=min(downs))
        return Since(down=False, at=max(s.at for s in known)) if known else None


NO_MEMORY = Serving()


@dataclass(frozen=True)
class Unserved:
    """What the policy decides for one model's bid now: `withdraw`, the reason its bids are deleted now (None:
    they stay); `hold`, why its bid.post is held; `until`, when the post may go (None: not while it is down)."""

    withdraw: str | None
    hold: str
    until: int | None = None


def unserved(policy: PolicySpec, since: Since | None, clock: int, bid_fee: int) -> Unserved | None:
    """None when the policy changes nothing for the model (alert, no memory, or served long enough)."""
    if policy.unserved != "withdraw" or since is None:
        return None
    grace, after = policy.unserved_grace_seconds, policy.unserved_repost_after_seconds
    cost = f"the repost pays the {mor(bid_fee)} bid fee (kept by the marketplace)"
    if since.down:
        withdraw = (
            f"unserved since {utc(since.at)} (policy.unserved: withdraw, grace {grace}s)"
            if clock - since.at >= grace
            else None
        )
        hold = f"held (unserved): not served since {utc(since.at)}; posted again once served for {after}s; {cost}"
        return Unserved(withdraw, hold)
    ready = since.at + after
    if clock >= ready:
        return None
    hold = (
        f"held (unserved): served again since {utc(since.at)}; posted again after {after}s served, at {utc(ready)}; "
        f"{cost}"
    )
    return Unserved(None, hold, ready)
