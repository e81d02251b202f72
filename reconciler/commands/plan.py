"""`reconcile plan`: load + validate, observe chain and proxy, plan, render; 0/1/2 exit codes.

The pipeline (web3) is imported when the command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from reconciler import DEFAULT_STATE_DIR
from reconciler.commands.options import state_dir_option, trust_host_option
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
@state_dir_option("Where what the chain reader learned of the registry is kept (shared with apply); nothing else.")
@trust_host_option
def plan_cmd(
    path: Path,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    verbose: bool,
    require_proxy: bool,
    state_dir: Path,
    trust_hosts: tuple[str, ...],
) -> None:
    """Observe the chain and the proxy, diff against PATH and print what would change, with its cost."""
    sys.exit(run_plan(path, fmt, out, detailed_exitcode, verbose, require_proxy, state_dir, trust_hosts))


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
) -> int:
    from reconciler.observe.destinations import with_trusted_hosts
    from reconciler.pipeline import make_plan
    from reconciler.plan.codec import plan_to_json
    from reconciler.render.markdown import render_markdown
    from reconciler.render.text import render_text, use_color

    if out is not None and (problem := _out_problem(out)) is not None:
        click.echo(f"error: --out {out}: {problem}", err=True)  # said before the chain is read, not after
        return EXIT_ERROR
    _desired, p = make_plan(path, with_trusted_hosts(os.environ, trust_hosts), state_dir)
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


def _out_problem(out: Path) -> str | None:
    """Why the plan could not be saved at `out` (a folder, or under a file), known before planning."""
    if out.is_dir():
        return "is a directory; name a file"
    for parent in out.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a directory"
    return None
