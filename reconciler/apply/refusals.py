"""What stops an apply before anything is sent, each check a function of the fresh plan: plan errors, a manual
step (`ManualStepNeeded`, which a watcher reports as blocked rather than failed), too little gas money, a
models-config that cannot be written, a reload whose credential would go to a host the operator does not trust,
and a saved plan that no longer matches.

`apply --plan FILE` never executes the saved plan: it plans again, `check_saved_plan` refuses when the fresh
plan differs from the saved one (another chain, Diamond or provider; another observed state; an action added,
gone or changed), and the fresh plan, equal to the one reviewed, is what runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler import GuardRefused
from reconciler.apply.proxy_config import untrusted_reload, unwritable
from reconciler.chain.networks import Network
from reconciler.desired.model import Desired
from reconciler.observe.destinations import trusted_hosts, untrusted_host
from reconciler.plan.model import Action, ActionKind, ManualStep, Plan, ProxyFile, Status, proxy_of


class ApplyError(GuardRefused):
    """Apply refused (plan errors, no confirmation, a write it cannot make); the message says why and what to
    do. Nothing was sent. A case apply never makes on purpose is an `InternalError` (a bug), not this."""


class StalePlan(ApplyError):
    pass


class ManualStepNeeded(ApplyError):
    """Only a manual step (the provider wallet's `reconcile approve`) stands in the way; nothing was sent. A
    watcher reports it as `blocked-manual` (once per cause) rather than as a failure to back off from."""

    def __init__(self, message: str, steps: tuple[ManualStep, ...], actions: tuple[str, ...]) -> None:
        super().__init__(message)
        self.steps = steps  # each manual action and why
        self.actions = actions  # the plan's pending action ids


def refuse_unwritable(desired: Desired, plan: Plan) -> None:
    """Stop before any transaction when a models-config the plan writes cannot be: found after the models were
    registered, it left them without bids until the path was fixed."""
    proxy = desired.proxy
    writes = {
        proxy_of(a.subject) for a in plan.pending if a.kind in (ActionKind.PROXY_WRITE_CONFIG, ActionKind.PROXY_REMOVE)
    }
    paths = {ProxyFile.FORWARDER: proxy.models_config_path if proxy else None}
    paths[ProxyFile.ROUTER] = proxy.router.models_config_path if proxy and proxy.router else None
    problems = [
        f"the {who} models-config cannot be written: {why}"
        for who, path in paths.items()
        if who in writes and path is not None and (why := unwritable(Path(path))) is not None
    ]
    if problems:
        raise ApplyError("refusing to apply; nothing was sent:\n  " + "\n  ".join(problems))


def refuse_untrusted(desired: Desired, plan: Plan, environ: Mapping[str, str] | None) -> None:
    """Stop before any transaction when a models-config the plan changes would be reloaded with a credential
    (`proxy.adminToken`, `proxy.router.adminAuth`) sent to a host that is neither loopback nor trusted by the
    operator (`--trust-host`, `RECONCILE_TRUSTED_HOSTS`): found at the reload, the file was already written."""
    proxy = desired.proxy
    if proxy is None:
        return
    touched = {
        proxy_of(a.subject)
        for a in plan.pending
        if a.kind in (ActionKind.PROXY_WRITE_CONFIG, ActionKind.PROXY_REMOVE, ActionKind.PROXY_RELOAD)
    }
    trusted = trusted_hosts(environ)
    asked = {
        ProxyFile.FORWARDER: ("forwarder admin API", proxy.admin_url if proxy.admin_token else None),
        ProxyFile.ROUTER: (
            "router API",
            proxy.router.admin_url if proxy.router is not None and proxy.router.admin_auth else None,
        ),
    }
    problems = [
        untrusted_reload(f"{what} {url}", host)
        for who, (what, url) in asked.items()
        if who in touched and url and (host := untrusted_host(url, trusted)) is not None
    ]
    if problems:
        raise ApplyError("refusing to apply; nothing was sent:\n  " + "\n  ".join(problems))


def refuse_unsafe(plan: Plan, signer_eth: int) -> None:
    """Stop before any transaction on plan errors, a manual approve, or too little gas money."""
    problems = list(plan.errors)
    problems += [f"{a.id}: {e}" for a in plan.actions if a.status is not Status.UNMANAGED for e in a.errors]
    manual = [a for a in plan.actions if a.status is Status.MANUAL]
    problems += [f"{a.id}: {a.reason}" for a in manual]
    gas = plan.summary().gas_wei
    if gas and signer_eth < gas:
        problems.append(
            f"the signer holds {signer_eth} wei of the native coin, less than the ~{gas} wei of gas this plan needs"
        )
    if problems:
        message = "refusing to apply; nothing was sent:\n  " + "\n  ".join(problems)
        steps = tuple(ManualStep(a.id, a.reason) for a in manual)
        if steps and problems == [str(s) for s in steps]:
            raise ManualStepNeeded(message, steps, tuple(a.id for a in plan.pending))
        raise ApplyError(message)


def check_saved_plan(saved: Plan, fresh: Plan, network: Network, desired: Desired) -> None:
    """A saved plan applies only to the state it was made against, on the same chain, Diamond and provider."""
    s, n = saved.network, fresh.network
    if (s.chain_id, s.diamond.lower(), s.provider.lower()) != (n.chain_id, n.diamond.lower(), n.provider.lower()):
        raise StalePlan(
            f"the saved plan is for chain {s.chain_id}, Diamond {s.diamond}, provider {s.provider}; this apply is "
            f"for chain {n.chain_id}, Diamond {n.diamond}, provider {n.provider}"
        )
    changes: list[str] = []
    if saved.observed_fingerprint != fresh.observed_fingerprint:
        changes.append("the chain or proxy state it was planned against has changed")
    old = {a.id: a for a in saved.pending}
    new = {a.id: a for a in fresh.pending}
    changes += [f"no longer planned: {i}" for i in sorted(old.keys() - new.keys())]
    changes += [f"newly needed: {i}" for i in sorted(new.keys() - old.keys())]
    changes += [f"changed: {i}" for i in sorted(old.keys() & new.keys()) if _comparable(old[i]) != _comparable(new[i])]
    if changes:
        raise StalePlan("stale plan: " + "; ".join(changes) + ". Run `reconcile plan` again and review it.")


def _comparable(a: Action) -> Any:
    return json.loads(json.dumps([a.kind, a.after, a.before, a.cost.fee, a.cost.stake], default=str, sort_keys=True))
