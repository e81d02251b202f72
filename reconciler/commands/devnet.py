"""`reconcile devnet up|down|status`: a local anvil chain with Morpheus-compatible contracts.

The devnet (web3, anvil) is imported when a devnet command runs, so `reconcile --help` starts without it. Its
errors end like every command's (`error: ...`, exit 1); `status` exits 1 when the devnet does not run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, handled
from reconciler.market.units import format_mor


@click.group(name="devnet")
def devnet_group() -> None:
    """A local anvil chain with Morpheus-compatible contracts, for trying things safely."""


_dir_option = click.option(
    "--dir",
    "dirpath",
    type=click.Path(path_type=Path),
    default=Path(".devnet"),
    show_default=True,
    help="Where the devnet keeps its chain state, log and devnet.json.",
)


@devnet_group.command("up")
@_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=8545, show_default=True, help="RPC port on 127.0.0.1.")
@click.option(
    "--start-block",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="A new chain's first block number, to try a chain as tall as Base's (ignored when state is restored).",
)
def devnet_up(dirpath: Path, port: int, start_block: int) -> None:
    """Start anvil (keeping state across restarts) and deploy the contracts once."""
    sys.exit(run_up(dirpath, port, start_block))


@devnet_group.command("down")
@_dir_option
def devnet_down(dirpath: Path) -> None:
    """Stop anvil; its state is saved and comes back with the next `up`."""
    sys.exit(run_down(dirpath))


@devnet_group.command("status")
@_dir_option
def devnet_status(dirpath: Path) -> None:
    """Say whether the devnet runs and what is deployed (exit 1 when it is not running)."""
    sys.exit(run_status(dirpath))


@handled
def run_up(dirpath: Path, port: int, start_block: int) -> int:
    from reconciler.chain.networks import DEVNET_DIR_ENV
    from reconciler.devnet import local as devnet

    info, notes = devnet.up(dirpath, port=port, start_block=start_block)
    for line in notes:
        click.echo(line)
    _print_deployment(info)
    click.echo(f"  rpcUrl             {info['rpcUrl']}")
    click.echo(f"wrote {devnet.info_path(dirpath)}")
    where = dirpath.resolve()
    click.echo(f"to use it, a desired state's network (or {DEVNET_DIR_ENV}={where} with `preset: devnet` alone):")
    click.echo(f"network:\n  preset: devnet\n  devnetDir: {where}")
    return EXIT_OK


@handled
def run_down(dirpath: Path) -> int:
    from reconciler.devnet import local as devnet

    if devnet.down(dirpath):
        click.echo(f"stopped the devnet in {dirpath} (state kept)")
    else:
        click.echo(f"no devnet running in {dirpath}")
    return EXIT_OK


@handled
def run_status(dirpath: Path) -> int:
    from reconciler.devnet import local as devnet

    st = devnet.status(dirpath)
    if not st.running:
        click.echo(f"devnet in {dirpath}: not running" + ("" if st.info else " (never started)"))
        return EXIT_ERROR
    click.echo(f"devnet in {dirpath}: running (pid {st.pid}) at {st.rpc_url}, chain id {st.chain_id}")
    if st.info is None or not st.deployed:
        click.echo("contracts: not deployed (run `reconcile devnet up`)")
        return EXIT_ERROR
    _print_deployment(st.info)
    for name, value in st.market.items():
        shown = format_mor(value) if "Price" not in name else f"{value} wei/s"
        click.echo(f"  {name:<18} {shown}")
    return EXIT_OK


def _print_deployment(info: dict[str, object]) -> None:
    click.echo(f"  chainId            {info['chainId']}")
    for key in ("diamond", "mor", "delegateRegistry", "provider"):
        click.echo(f"  {key:<18} {info[key]}")
