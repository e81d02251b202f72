"""`reconcile market PATH`: every active bid on the desired state's models, scored and ranked as buyers' routers
do, with where the provider stands and the prices that would rank it first or keep its rank.

Read only: nothing is signed or sent. The reading (web3) is imported when the command runs, so `reconcile
--help` starts without it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from reconciler.commands.options import weights_option
from reconciler.commands.outcome import EXIT_OK, handled


@click.command("market")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@weights_option
def market_cmd(path: Path, fmt: str, weights_file: Path | None) -> None:
    """Show each model's market as buyers' routers rank it: bids, prices, stats, quality, score and our rank."""
    sys.exit(run_market(path, fmt, weights_file))


@handled
def run_market(path: Path, fmt: str, weights_file: Path | None = None) -> int:
    from reconciler.desired.loader import load_desired
    from reconciler.observe.market import market_document
    from reconciler.observe.market_input import host_rating
    from reconciler.render.market import render_market_markdown, render_market_text

    rating = host_rating(os.environ, weights_file)  # a bad file is said before the chain is read
    desired, _warnings = load_desired(path, os.environ)
    doc = market_document(desired, rating=rating, environ=os.environ)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    elif fmt == "markdown":
        click.echo(render_market_markdown(doc), nl=False)
    else:
        click.echo(render_market_text(doc), nl=False)
    return EXIT_OK
