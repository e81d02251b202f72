"""`reconcile plan`: load + validate, observe chain and proxy, plan, render; 0/1/2 exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, EXIT_PENDING, handled
from reconciler.pipeline import make_plan
from reconciler.plan.codec import plan_to_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text, use_color


@handled
def run_plan(path: Path, fmt: str, out: Path | None, detailed: bool, verbose: bool, require_proxy: bool) -> int:
    if out is not None and (problem := _out_problem(out)) is not None:
        click.echo(f"error: --out {out}: {problem}", err=True)  # said before the chain is read, not after
        return EXIT_ERROR
    _desired, p = make_plan(path, os.environ)
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
