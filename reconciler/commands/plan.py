"""`reconcile plan`: load + validate, observe chain and proxy, plan, render; 0/1/2 exit codes. On a fleet folder,
every provider (or those `--provider` names) in one report, the exit code over the whole fleet.

The pipeline (web3) is imported when the command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from reconciler import DEFAULT_STATE_DIR
from reconciler.commands.options import state_dir_option, trust_host_option, weights_option
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, EXIT_PENDING, handled


@click.command("plan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan (JSON) for `apply --plan`.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 when nothing is pending, 2 when something is, 1 on error."
)
@click.option("--verbose", is_flag=True, help="Show RPC round trips, dependencies and costs of reported entries.")
@click.option("--require-proxy", is_flag=True, help="Fail when the forwarder's admin API cannot be reached.")
@click.option(
    "--provider",
    "providers",
    metavar="NAME",
    multiple=True,
    help="On a fleet (a folder holding fleet.yaml): plan only this provider. Repeatable; default: all of them.",
)
@state_dir_option("Where what the chain reader learned of the registry is kept (shared with apply); nothing else.")
@trust_host_option
@weights_option
def plan_cmd(
    path: Path,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    verbose: bool,
    require_proxy: bool,
    providers: tuple[str, ...],
    state_dir: Path,
    trust_hosts: tuple[str, ...],
    weights_file: Path | None,
) -> None:
    """Observe the chain and the proxy, diff against PATH and print what would change, with its cost. On a
    fleet, every provider (or those named by --provider) against its own network, in one report."""
    sys.exit(
        run_plan(
            path, fmt, out, detailed_exitcode, verbose, require_proxy, state_dir, trust_hosts, providers, weights_file
        )
    )


@handled
def run_plan(
    path: Path,
    fmt: str,
    out: Path | None,
    detailed: bool,
    verbose: bool,
    require_proxy: bool,
    state_dir: Path = DEFAULT_STATE_DIR,
    trust_hosts: tuple[str, ...] = (),
    providers: tuple[str, ...] = (),
    weights_file: Path | None = None,
) -> int:
    from reconciler.desired.fleet import is_fleet
    from reconciler.observe.destinations import with_trusted_hosts
    from reconciler.observe.market_input import with_weights
    from reconciler.pipeline import make_plan
    from reconciler.plan.codec import plan_to_json
    from reconciler.render.markdown import render_markdown
    from reconciler.render.text import render_text, use_color

    if out is not None and (problem := _out_problem(out)) is not None:
        click.echo(f"error: --out {out}: {problem}", err=True)  # said before the chain is read, not after
        return EXIT_ERROR
    environ = with_weights(with_trusted_hosts(os.environ, trust_hosts), weights_file)
    if is_fleet(path):
        return _run_fleet(path, fmt, out, detailed, verbose, require_proxy, state_dir, environ, providers)
    if providers:
        click.echo(f"error: --provider: {path} is not a fleet (no fleet.yaml); plan it without --provider", err=True)
        return EXIT_ERROR
    _desired, p = make_plan(path, environ, state_dir)
    if fmt == "json":
        click.echo(json.dumps(plan_to_json(p), indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(p), nl=False)
    else:
        click.echo(render_text(p, color=use_color(sys.stdout), verbose=verbose), nl=False)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(plan_to_json(p), indent=2) + "\n")
        except OSError as exc:
            click.echo(f"error: --out {out}: cannot write the plan: {exc.strerror or exc}", err=True)
            return EXIT_ERROR
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


def _run_fleet(
    path: Path,
    fmt: str,
    out: Path | None,
    detailed: bool,
    verbose: bool,
    require_proxy: bool,
    state_dir: Path,
    environ: Mapping[str, str],
    providers: tuple[str, ...],
) -> int:
    """A fleet's plan: each selected provider against its own network, one report; exit codes over the fleet
    (1 when any provider could not be planned or has errors, else 2 with --detailed-exitcode when any has
    something pending)."""
    from reconciler.desired.fleet import load_fleet
    from reconciler.pipeline import plan_fleet
    from reconciler.plan.codec import FORMAT_VERSION, plan_to_json
    from reconciler.render.markdown import render_fleet_markdown
    from reconciler.render.text import render_fleet_text, use_color

    fleet = load_fleet(path, environ).select(providers)
    if out is not None and len(fleet.members) != 1:
        click.echo(
            f"error: --out {out}: a saved plan is one provider's; on a fleet, name one with --provider NAME",
            err=True,
        )
        return EXIT_ERROR
    warnings = {m.name: tuple(str(w) for w in m.warnings) for m in fleet.members}
    fp = plan_fleet([(m.name, m.desired) for m in fleet.members], environ, state_dir, warnings)
    if fmt == "json":
        doc = {
            "format_version": FORMAT_VERSION,  # the plans' own: a fleet's document changes when theirs does
            "providers": [
                {
                    "name": m.name,
                    "network": m.network,
                    "plan": plan_to_json(m.plan) if m.plan is not None else None,
                    "error": m.error,
                }
                for m in fp.members
            ],
        }
        click.echo(json.dumps(doc, indent=2))
    elif fmt == "markdown":
        click.echo(render_fleet_markdown(fp), nl=False)
    else:
        click.echo(render_fleet_text(fp, color=use_color(sys.stdout), verbose=verbose), nl=False)
    if out is not None:
        only = fp.members[0]
        if only.plan is None:
            click.echo(f"error: --out {out}: provider {only.name} could not be planned; nothing saved", err=True)
            return EXIT_ERROR
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(plan_to_json(only.plan), indent=2) + "\n")
        except OSError as exc:
            click.echo(f"error: --out {out}: cannot write the plan: {exc.strerror or exc}", err=True)
            return EXIT_ERROR
        click.echo(f"saved provider {only.name}'s plan to {out}", err=True)
    if fp.failed:
        names = ", ".join(m.name for m in fp.failed)
        click.echo(f"error: {len(fp.failed)} provider(s) could not be planned: {names} (see above)", err=True)
        return EXIT_ERROR
    unreached = [m.name for m in fp.planned if m.plan is not None and not m.plan.proxy_observed]
    if require_proxy and unreached:
        click.echo(
            f"error: --require-proxy: the forwarder's admin API of {', '.join(unreached)} could not be reached",
            err=True,
        )
        return EXIT_ERROR
    if fp.has_errors:
        names = ", ".join(m.name for m in fp.planned if m.plan is not None and m.plan.has_errors)
        click.echo(f"error: the plan of {names} has errors (see above); apply would refuse", err=True)
        return EXIT_ERROR
    if detailed and fp.pending:
        return EXIT_PENDING
    return EXIT_OK


def _out_problem(out: Path) -> str | None:
    """Why the plan could not be saved at `out` (a folder, or under a file), known before planning."""
    if out.is_dir():
        return "is a directory; name a file"
    for parent in out.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a directory"
    return None
