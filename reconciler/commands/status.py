"""`reconcile status PATH [--format text|json]`: the provider's business on one screen.

One chain reading with every session (what is claimable needs old ended sessions too), the plan made from
that same reading (drift), and the forwarder's slots from its /metrics when `proxy.adminUrl` is set.
Read-only: nothing is sent, no lock is taken.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import click

from reconciler.chain.networks import resolve_network
from reconciler.chain.pool import pool_of
from reconciler.chain.reader import ChainReader
from reconciler.commands.outcome import EXIT_OK, handled
from reconciler.desired.loader import load_desired
from reconciler.desired.references import resolve
from reconciler.observe.model import Observed
from reconciler.observe.proxy import observe_proxy, observe_router
from reconciler.observe.slots import read_slots
from reconciler.observe.world import resolve_refs
from reconciler.plan.planner import plan
from reconciler.sessions.status import build_status, render_status


def status_document(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Load, observe (all sessions), plan and read slots (raises DesiredStateError, NetworkError, ...)."""
    env = os.environ if environ is None else environ
    desired, _warnings = load_desired(path)
    network = resolve_network(desired.network, env)
    reader = ChainReader.connect(network)
    chain = reader.observe(desired, all_sessions=True)
    observed = Observed(
        chain=chain,
        proxy=observe_proxy(desired, env),
        router=observe_router(desired),
        refs=resolve_refs(desired, env),
        now=chain.block_timestamp,
    )
    p = plan(desired, observed)
    proxy = desired.proxy
    token = resolve(proxy.admin_token, env) if proxy and proxy.admin_token else None
    slots = read_slots(proxy.admin_url if proxy else None, token)
    doc = build_status(desired, chain, p, slots)
    doc["network"] = network.name
    doc["endpoints"] = endpoint_health(reader)
    return doc


def endpoint_health(reader: ChainReader) -> list[dict[str, object]]:
    """Each RPC endpoint's state by its label (several: each one's head is looked at once more)."""
    pool = pool_of(reader.w3.provider)
    if pool is None:
        return []
    pool.refresh_heads(force=True)
    return [h.as_dict() for h in pool.health]


def render_endpoints(doc: Mapping[str, object]) -> str:
    rows = doc.get("endpoints") or []
    assert isinstance(rows, list)
    if len(rows) < 2:
        return ""
    parts = []
    for r in rows:
        head = f" at block {r['head']}" if r.get("head") is not None else ""
        why = f" ({r['error']})" if r.get("state") == "down" and r.get("error") else ""
        parts.append(f"{r['endpoint']} {r['state']}{head}{why}")
    return "RPC endpoints: " + "; ".join(parts) + "\n"


@handled
def run_status(path: Path, fmt: str, environ: Mapping[str, str] | None = None) -> int:
    doc = status_document(path, environ)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render_status(doc) + render_endpoints(doc), nl=False)
    return EXIT_OK
