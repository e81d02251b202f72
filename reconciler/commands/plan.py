"""`reconcile plan`: load + validate, observe chain and proxy, plan, render; 0/1/2 exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import click

from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.diagnostics import DesiredStateError
from reconciler.networks import NetworkError, resolve_network
from reconciler.observe.chain import ChainCheckError
from reconciler.observe.rpc import RpcError
from reconciler.observe.world import observe
from reconciler.observed import Observed
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.render.jsonplan import plan_to_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text, use_color

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2


def make_plan(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Desired, Plan]:
    """Load, observe and plan (raises DesiredStateError, NetworkError, ChainCheckError, RpcError)."""
    desired, warnings = load_desired(path)
    _, p = plan_for(desired, environ, tuple(str(w) for w in warnings))
    return desired, p


def plan_for(
    desired: Desired, environ: Mapping[str, str] | None = None, load_warnings: tuple[str, ...] = ()
) -> tuple[Observed, Plan]:
    """Observe the world for an already loaded desired state and plan it (apply and watch reuse this)."""
    network = resolve_network(desired.network, environ)
    try:
        observed = observe(desired, network, environ)
    except RpcError as exc:
        hint = "; is the devnet running? (`reconcile devnet up`)" if network.name == "devnet" else ""
        raise RpcError(f"{exc}{hint}") from None
    p = plan(desired, observed)
    extra = load_warnings + ((observed.router.note,) if observed.router.note else ())
    if extra:
        p = replace(p, warnings=extra + p.warnings)
    return observed, p


def run_plan(path: Path, fmt: str, out: Path | None, detailed: bool, verbose: bool, require_proxy: bool) -> int:
    try:
        _desired, p = make_plan(path, os.environ)
    except DesiredStateError as exc:
        for d in exc.diagnostics:
            click.echo(str(d), err=True)
        return EXIT_ERROR
    except (NetworkError, ChainCheckError, RpcError) as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    if fmt == "json":
        click.echo(json.dumps(plan_to_json(p), indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(p), nl=False)
    else:
        click.echo(render_text(p, color=use_color(sys.stdout), verbose=verbose), nl=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(plan_to_json(p), indent=2) + "\n")
        click.echo(f"saved the plan to {out}", err=True)
    if require_proxy and not p.proxy_observed:
        click.echo("error: --require-proxy: the forwarder's admin API could not be reached", err=True)
        return EXIT_ERROR
    if p.has_errors:
        click.echo("error: the plan has errors (see above); apply would refuse", err=True)
        return EXIT_ERROR
    if detailed and p.pending:
        return EXIT_PENDING
    return EXIT_OK
