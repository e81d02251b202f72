"""Proxy actions: the forwarder's and the router's models-config (writes, reloads, removals, drains)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.desired.modelsconfig import forwarder_entries, forwarder_key_refs, router_entries
from reconciler.desired.references import Reference
from reconciler.observe.destinations import host_of
from reconciler.observe.model import ModelsConfigState, ProxyEntry
from reconciler.plan.context import Context, utc
from reconciler.plan.model import Action, ActionKind, ProxyEntries, ProxyEntryRef, ProxyFile, ProxyFileRef, Status


@dataclass(frozen=True)
class RouterHold:
    """Why a model's bid waits for the router; `new_bids_only`: a live bid's repost is not held (the router
    is presumably serving the model already; only whether it loaded a new one cannot be checked)."""

    reason: str
    new_bids_only: bool = False


def _entry_changes(want: ProxyEntry, have: ProxyEntry | None) -> list[str]:
    if have is None:
        return ["new entry"]
    changes = []
    w, h = want.comparable(), have.comparable()
    for k in sorted(set(w) | set(h)):
        if w.get(k) != h.get(k):
            changes.append(f"{k} {h.get(k)!r} -> {w.get(k)!r}")
    if want.api_key_fingerprint is not None and want.api_key_fingerprint != have.api_key_fingerprint:
        changes.append(f"apiKey fingerprint {have.api_key_fingerprint} -> {want.api_key_fingerprint}")
    return changes


def _live_sessions(ctx: Context, model_id: str) -> tuple[int | None, int]:
    """(latest endsAt, count) of the live sessions on any bid of the model: sessions outlive bids."""
    live = [
        s
        for b in ctx.observed.chain.bids
        if b.model_id == model_id
        for s in b.live_sessions
        if s.ends_at > ctx.observed.now
    ]
    return max((s.ends_at for s in live), default=None), len(live)


def _config_diff(
    ctx: Context,
    label: str,
    want: list[ProxyEntry],
    have: ModelsConfigState | None,
    path: str,
    keyless: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], list[str]]:
    """(changed or new entries as plan data, one reason per entry); `keyless`: model ids with no key by design."""
    have_entries = have.entries if have is not None else ()
    changed: list[dict[str, Any]] = []
    reasons: list[str] = []
    for e in want:
        h = next((x for x in have_entries if x.model_id == e.model_id), None)
        if e.api_key_fingerprint is None and e.model_id not in keyless:
            ctx.warnings.append(
                f"{label} {path}: the key for {e.model_name} ({e.model_id[:10]}…) cannot be resolved here; its "
                "fingerprint is unknown and is not compared (apply needs it)"
            )
        ch = _entry_changes(e, h)
        if ch:
            changed.append(e.as_plan_data())
            reasons.append(f"{e.model_name} ({e.model_id[:10]}…): " + ", ".join(ch))
    return changed, reasons


def _write_config(
    ctx: Context,
    which: ProxyFile,
    path: str,
    have: ModelsConfigState | None,
    changed: list[dict[str, Any]],
    reasons: list[str],
    warnings: list[str] | None = None,
) -> str:
    """The write of one models-config file (the forwarder's or the router's): its changed entries, and the
    version it replaces (apply refuses to write over a file that moved since the plan)."""
    return ctx.add(
        Action(
            id=f"proxy.write-config:{which.value}",
            kind=ActionKind.PROXY_WRITE_CONFIG,
            target=f"{which.value} models-config {path}",
            reason="; ".join(reasons),
            subject=ProxyFileRef(which),
            value=ProxyEntries(tuple(changed)),
            before={"version": have.version if have else None, "exists": bool(have and have.exists)},
            warnings=tuple(warnings or ()),
        )
    ).id


def _new_hosts(want: list[ProxyEntry], have: ModelsConfigState | None, keys: dict[str, Reference | None]) -> list[str]:
    """One plain line per key that the forwarder will send to a host it does not send it to now (an entry of the
    current file whose upstream URL moves to another host): a reviewer sees where the key goes, not only that a
    URL or a fingerprint changed."""
    lines: list[str] = []
    for e in want:
        h = have.entry(e.model_id) if have is not None else None
        ref = keys.get(e.model_id)
        new, old = host_of(e.api_url), host_of(h.api_url) if h is not None else ""
        if h is None or ref is None or new == old:
            continue
        key = e.api_key_fingerprint or f"of {ref} (its fingerprint is unknown here)"
        line = f"the key {key} will be sent to {new or e.api_url} (it went to {old or h.api_url})"
        if line not in lines:
            lines.append(line)
    return lines


def forwarder_config(ctx: Context) -> list[str]:
    proxy = ctx.desired.proxy
    if proxy is None:
        return []
    ids: list[str] = []
    obs = ctx.observed.proxy
    fps = ctx.observed.refs.fingerprints
    want = forwarder_entries(ctx.desired, fps)
    path = proxy.models_config_path
    if obs.file is not None and obs.file.error:
        ctx.errors.append(f"forwarder models-config {path}: {obs.file.error}")
    key_refs = forwarder_key_refs(ctx.desired)
    keyless = frozenset(mid for mid, ref in key_refs.items() if ref is None)
    changed, reasons = _config_diff(ctx, "forwarder models-config", want, obs.file, path, keyless)
    ctx.warnings.extend(f"forwarder models-config {path}: {line}" for line in _new_hosts(want, obs.file, key_refs))
    warnings: list[str] = []
    if not proxy.admin_url:
        warnings.append("no proxy.adminUrl: the forwarder reloads the file by itself, but the reload is unconfirmed")
    if changed:
        ids.append(_write_config(ctx, ProxyFile.FORWARDER, path, obs.file, changed, reasons, warnings))
    if proxy.admin_url:
        if obs.untrusted is not None:
            ctx.warnings.append(
                f"forwarder admin API {obs.note}: proxy.adminToken goes only to loopback or to a host the operator "
                "trusts (--trust-host, RECONCILE_TRUSTED_HOSTS); nothing was sent, planned from the chain and the "
                "file alone"
            )
        elif obs.reachable is False:
            ctx.warnings.append(
                f"the forwarder admin API could not be reached from here ({obs.note or 'unreachable'}); "
                "planned from the chain and the file alone"
            )
        elif changed or (obs.served and obs.file and obs.served.version != obs.file.version):
            served_v = (obs.served.version or "?") if obs.served else "?"
            file_v = (obs.file.version or "?") if obs.file else "?"
            reason = (
                "load the new file"
                if changed
                else f"the forwarder serves version {served_v[:12]}…, the file is {file_v[:12]}…"
            )
            a = ctx.add(
                Action(
                    id="proxy.reload:forwarder",
                    kind=ActionKind.PROXY_RELOAD,
                    target=f"forwarder {proxy.admin_url}",
                    reason=reason,
                    subject=ProxyFileRef(ProxyFile.FORWARDER),
                    before={"version": obs.served.version if obs.served else None},
                    # what will be served: the file as it is, or the one the write before this reload makes
                    after={"version": file_v} if not changed else {"serves": "the file written just before"},
                    depends_on=tuple(ids),
                )
            )
            ids.append(a.id)
    return ids


def proxy_removals(ctx: Context, bid_deletes: dict[str, list[str]]) -> None:
    proxy = ctx.desired.proxy
    if proxy is None:
        return
    _removals(
        ctx,
        ProxyFile.FORWARDER,
        proxy.models_config_path,
        forwarder_entries(ctx.desired, {}),
        ctx.observed.proxy.file,
        bid_deletes,
    )
    if proxy.router is not None:
        _removals(
            ctx,
            ProxyFile.ROUTER,
            proxy.router.models_config_path,
            router_entries(ctx.desired, {}),
            ctx.observed.router.file,
            bid_deletes,
        )


def _removals(
    ctx: Context,
    who: ProxyFile,
    path: str,
    want: list[ProxyEntry],
    have: ModelsConfigState | None,
    bid_deletes: dict[str, list[str]],
) -> None:
    declared = {e.model_id for e in want}
    all_declared = {m.model_id for m in ctx.desired.models}
    for e in have.entries if have else ():
        if e.model_id in declared:
            continue
        absent = e.model_id in all_declared
        if not absent and not ctx.desired.policy.prune:
            ctx.add(
                Action(
                    id=f"proxy.unmanaged:{who}:{e.model_id}",
                    kind=ActionKind.PROXY_UNMANAGED,
                    target=f"{who} models-config entry {e.model_name} ({e.model_id[:10]}…)",
                    reason="not declared; kept as it is (policy.prune is false)",
                    subject=ProxyEntryRef(who, e.model_id),
                    before=e.as_plan_data(),
                    after=e.as_plan_data(),
                    status=Status.UNMANAGED,
                )
            )
            continue
        live_until, live_count = _live_sessions(ctx, e.model_id)
        pending_deletes = bid_deletes.get(e.model_id, [])
        still_active = [b for b in ctx.observed.chain.active_bids(e.model_id)]
        until: int | None = None
        if live_count:
            status, until = Status.DRAINING, live_until
            reason = f"draining until {utc(live_until or 0)}: {live_count} live session(s) on its bids"
        elif len(still_active) > len(pending_deletes):
            status, reason = Status.DRAINING, "draining: its bid is still active"
        else:
            status = Status.PENDING
            reason = "absent: true" if absent else "undeclared and policy.prune is true"
            if pending_deletes:
                reason += "; removed after its bid is deleted"
        ctx.add(
            Action(
                id=f"proxy.remove:{who}:{e.model_id}",
                kind=ActionKind.PROXY_REMOVE,
                target=f"{who} models-config {path}: remove {e.model_name} ({e.model_id[:10]}…)",
                reason=reason,
                subject=ProxyEntryRef(who, e.model_id),
                before=e.as_plan_data(),
                status=status,
                until=until,
                depends_on=tuple(pending_deletes),
            )
        )


def router_config(ctx: Context) -> tuple[list[str], dict[str, RouterHold]]:
    """The router's own file; returns (ids, model id -> why its new bid must wait for the router)."""
    proxy = ctx.desired.proxy
    if proxy is None or proxy.router is None:
        return [], {}
    router = proxy.router
    obs = ctx.observed.router
    fps = ctx.observed.refs.fingerprints
    want = router_entries(ctx.desired, fps)
    keyless = frozenset(e.model_id for e in want) if proxy.client_token is None else frozenset()
    changed, reasons = _config_diff(ctx, "router models-config", want, obs.file, router.models_config_path, keyless)
    ids: list[str] = []
    if changed:
        ids.append(_write_config(ctx, ProxyFile.ROUTER, router.models_config_path, obs.file, changed, reasons))
    loaded = obs.loaded_model_ids
    if router.url is None:
        ctx.warnings.append("no proxy.router.url: cannot check which models the running router has loaded")
    if changed:
        if router.admin_url:
            a = ctx.add(
                Action(
                    id="proxy.reload:router",
                    kind=ActionKind.PROXY_RELOAD,
                    target=f"router {router.admin_url}",
                    reason="POST /config/models/reload (a 404 means this router needs a restart)",
                    subject=ProxyFileRef(ProxyFile.ROUTER),
                    depends_on=tuple(ids),
                )
            )
            ids.append(a.id)
        else:
            ctx.add(
                Action(
                    id="proxy.restart-required:router",
                    kind=ActionKind.PROXY_RESTART_REQUIRED,
                    target=f"router (reads {router.models_config_path} only at start)",
                    reason="restart the proxy-router to load the new models-config (it drops open sessions)",
                    subject=ProxyFileRef(ProxyFile.ROUTER),
                    status=Status.RESTART_REQUIRED,
                    depends_on=tuple(ids),
                )
            )
    blocked: dict[str, RouterHold] = {}
    if router.admin_url is None and loaded is None:
        # fail closed: a bid on a model no router serves is a session that fails, then a dispute
        why = obs.note or "no proxy.router.url to read its /healthcheck from"
        for e in want:
            blocked[e.model_id] = RouterHold(f"cannot check: {why}", new_bids_only=True)
    elif router.admin_url is None and loaded is not None:
        for e in want:
            if e.model_id not in loaded:
                blocked[e.model_id] = RouterHold("not in its /healthcheck; restart it")
        if blocked and not changed:
            ctx.add(
                Action(
                    id="proxy.restart-required:router",
                    kind=ActionKind.PROXY_RESTART_REQUIRED,
                    target=f"router (reads {router.models_config_path} only at start)",
                    reason=f"the running router has not loaded {len(blocked)} model(s) of its file; restart it",
                    subject=ProxyFileRef(ProxyFile.ROUTER),
                    status=Status.RESTART_REQUIRED,
                )
            )
    return ids, blocked
