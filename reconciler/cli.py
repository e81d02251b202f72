"""The `reconcile` command line (click). Exit codes: 0 ok / no changes, 1 error, 2 changes pending."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler import ReconcileError, __version__
from reconciler.commands.options import F, state_dir_option
from reconciler.commands.outcome import EXIT_ERROR, unexpected
from reconciler.desired.diagnostics import Severity, ValidationFailed
from reconciler.desired.loader import load_desired
from reconciler.market.units import format_mor


@click.group()
@click.version_option(__version__, prog_name="reconcile")
@click.option("--verbose", "verbose_errors", is_flag=True, help="Show the traceback of an unexpected error.")
def cli(verbose_errors: bool) -> None:
    """GitOps for Morpheus resale providers: declare in YAML, plan, apply, watch."""


@cli.group(name="devnet")
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
    from reconciler.devnet import local as devnet  # web3: imported only when a devnet command runs

    try:
        info, notes = devnet.up(dirpath, port=port, start_block=start_block)
    except ReconcileError as exc:  # the devnet's own errors, and a devnet.json it did not write
        raise click.ClickException(str(exc)) from exc
    for line in notes:
        click.echo(line)
    _print_deployment(info)
    click.echo(f"wrote {devnet.info_path(dirpath)}")


@devnet_group.command("down")
@_dir_option
def devnet_down(dirpath: Path) -> None:
    """Stop anvil; its state is saved and comes back with the next `up`."""
    from reconciler.devnet import local as devnet  # web3: imported only when a devnet command runs

    if devnet.down(dirpath):
        click.echo(f"stopped the devnet in {dirpath} (state kept)")
    else:
        click.echo(f"no devnet running in {dirpath}")


@devnet_group.command("status")
@_dir_option
def devnet_status(dirpath: Path) -> None:
    """Say whether the devnet runs and what is deployed (exit 1 when it is not running)."""
    from reconciler.devnet import local as devnet  # web3: imported only when a devnet command runs

    try:
        st = devnet.status(dirpath)
    except ReconcileError as exc:
        raise click.ClickException(str(exc)) from exc
    if not st.running:
        click.echo(f"devnet in {dirpath}: not running" + ("" if st.info else " (never started)"))
        sys.exit(1)
    click.echo(f"devnet in {dirpath}: running (pid {st.pid}) at {st.rpc_url}, chain id {st.chain_id}")
    if st.info is None or not st.deployed:
        click.echo("contracts: not deployed (run `reconcile devnet up`)")
        sys.exit(1)
    _print_deployment(st.info)
    for name, value in st.market.items():
        shown = format_mor(value) if "Price" not in name else f"{value} wei/s"
        click.echo(f"  {name:<18} {shown}")


def _print_deployment(info: dict[str, object]) -> None:
    click.echo(f"  chainId            {info['chainId']}")
    for key in ("diamond", "mor", "delegateRegistry", "provider"):
        click.echo(f"  {key:<18} {info[key]}")


@cli.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
def validate_cmd(path: Path) -> None:
    """Check a desired state (file or directory) without any network; exit 1 on errors."""
    try:
        desired, warnings = load_desired(path)
    except ValidationFailed as exc:
        for d in exc.diagnostics:
            click.echo(str(d), err=True)
        errors = [d for d in exc.diagnostics if d.severity is Severity.ERROR]
        click.echo(f"{len(errors)} error(s); nothing was checked against the chain", err=True)
        sys.exit(EXIT_ERROR)
    for d in warnings:
        click.echo(str(d), err=True)
    own = sum(1 for m in desired.models if m.managed)
    bids = sum(1 for m in desired.models if m.bid is not None)
    click.echo(
        f"{path}: valid ({len(desired.models)} models, {own} own, {bids} bids, "
        f"{len(desired.upstreams)} upstreams, {len(warnings)} warning(s))"
    )


@cli.command("plan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan (JSON) for `apply --plan`.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 when nothing is pending, 2 when something is, 1 on error."
)
@click.option("--verbose", is_flag=True, help="Show RPC round trips, dependencies and costs of reported entries.")
@click.option("--require-proxy", is_flag=True, help="Fail when the forwarder's admin API cannot be reached.")
def plan_cmd(
    path: Path, fmt: str, out: Path | None, detailed_exitcode: bool, verbose: bool, require_proxy: bool
) -> None:
    """Observe the chain and the proxy, diff against PATH and print what would change, with its cost."""
    from reconciler.commands.plan import run_plan

    sys.exit(run_plan(path, fmt, out, detailed_exitcode, verbose, require_proxy))


@cli.command("apply")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--plan", "plan_file", type=click.Path(path_type=Path), help="Apply a plan saved by `plan --out`.")
@click.option(
    "--yes",
    "--auto-approve",
    "auto_approve",
    is_flag=True,
    help="Send without asking for confirmation (required without a terminal). --auto-approve: the old name; "
    "it has nothing to do with `reconcile approve` (the MOR allowance).",
)
@state_dir_option("Where the journal and lock live (keep it: a rerun resumes from it).")
@click.option("--legacy-tx", is_flag=True, help="Send legacy (gasPrice) transactions, for chains without EIP-1559.")
@click.option("--speed-up", is_flag=True, help="Replace journaled transactions still pending with a higher fee.")
@click.option(
    "--receipt-timeout",
    type=click.FloatRange(min=1.0),
    default=300.0,
    show_default=True,
    help="Seconds to wait per batch.",
)
def apply_cmd(
    path: Path | None,
    plan_file: Path | None,
    auto_approve: bool,
    state_dir: Path,
    legacy_tx: bool,
    speed_up: bool,
    receipt_timeout: float,
) -> None:
    """Plan PATH (or load --plan), confirm, send the transactions and write the proxy configs; exit 0 when converged."""
    from reconciler.commands.apply import run_apply

    sys.exit(run_apply(path, plan_file, auto_approve, state_dir, legacy_tx, speed_up, receipt_timeout))


@cli.command("import")
@click.option(
    "--network",
    "network_name",
    type=click.Choice(["base", "base-sepolia", "arbitrum", "arbitrum-sepolia", "devnet"]),
    help="The network preset (or give --chain-id, --diamond and --mor, as the desired state may).",
)
@click.option("--chain-id", type=click.IntRange(min=1), help="The chain id (overrides the preset's).")
@click.option("--diamond", help="The Diamond's address (overrides the preset's).")
@click.option("--mor", help="The MOR token's address (overrides the preset's).")
@click.option("--rpc-url", "rpc_ref", help="A reference to the RPC URL: env:NAME or file:PATH (devnet: devnet.json).")
@click.option("--provider", required=True, help="The provider address to import.")
@click.option(
    "--devnet-dir", type=click.Path(path_type=Path), help="devnet.json's directory (default $RECONCILE_DEVNET_DIR)."
)
@click.option("--from-block", type=int, help="Deprecated and ignored (no log scan any more).")
@click.option("--log-block-range", type=int, help="Deprecated and ignored (log ranges adapt to the endpoint).")
def import_cmd(
    network_name: str | None,
    chain_id: int | None,
    diamond: str | None,
    mor: str | None,
    rpc_ref: str | None,
    provider: str,
    devnet_dir: Path | None,
    from_block: int | None,
    log_block_range: int | None,
) -> None:
    """Print (stdout) a desired state matching what PROVIDER has on chain now, with placeholders to fill in."""
    from reconciler.commands.import_state import ImportNetwork, run_import

    net = ImportNetwork(network_name, chain_id, diamond, mor, rpc_ref, devnet_dir)
    sys.exit(run_import(net, provider, from_block, log_block_range))


def _keystore_options(f: F) -> F:
    """`--keystore` + `--password-ref`: the provider wallet's key kept encrypted (approve, delegate), the same on both."""
    f = click.option(
        "--password-ref",
        metavar="REF",
        help="The --keystore password: env:NAME or file:PATH, never the password itself (default: asked, hidden).",
    )(f)
    return click.option(
        "--keystore",
        type=click.Path(path_type=Path),
        help="The PROVIDER wallet's encrypted JSON keystore, instead of --key-ref.",
    )(f)


@cli.command("approve")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--amount", help='A standing allowance (e.g. "5 MOR"); default: exactly what the plan spends.')
@state_dir_option("Where the journal and the lock are kept (shared with apply).")
@click.option(
    "--yes", "--auto-approve", "auto_approve", is_flag=True, help="Send without asking (--auto-approve: old name)."
)
@click.option(
    "--key-ref", help="The PROVIDER wallet's key: env:NAME or file:PATH (default: the signer's, if it is the provider)."
)
@_keystore_options
def approve_cmd(
    path: Path,
    amount: str | None,
    state_dir: Path,
    auto_approve: bool,
    key_ref: str | None,
    keystore: Path | None,
    password_ref: str | None,
) -> None:
    """Send the MOR approve the plan of PATH needs, from the provider wallet (the manual step of delegate mode)."""
    from reconciler.commands.approve import run_approve

    sys.exit(run_approve(path, amount, state_dir, auto_approve, key_ref, keystore=keystore, password_ref=password_ref))


@cli.command("delegate")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("verb", type=click.Choice(["check", "grant", "revoke"]))
@click.option(
    "--rights", help="Comma list of provider,model,marketplace,session (default: what PATH needs; revoke: all)."
)
@click.option("--key-ref", help="The PROVIDER wallet's key: file:PATH (0600) or env:NAME; never the key itself.")
@_keystore_options
@state_dir_option("Where the journal and the lock are kept (shared with apply).")
@click.option("--yes", "auto_approve", is_flag=True, help="Send without asking for confirmation.")
def delegate_cmd(
    path: Path,
    verb: str,
    rights: str | None,
    key_ref: str | None,
    keystore: Path | None,
    password_ref: str | None,
    state_dir: Path,
    auto_approve: bool,
) -> None:
    """Check, grant or revoke the signer's delegate.xyz rights, sent from the provider wallet (delegate mode)."""
    from reconciler.commands.delegate import run_delegate

    sys.exit(
        run_delegate(path, verb, rights, key_ref, state_dir, auto_approve, keystore=keystore, password_ref=password_ref)
    )


@cli.command("claim")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be collected and the estimated gas; send nothing.")
@state_dir_option("Where the transaction journal and the apply lock live (shared with apply).")
def claim_cmd(path: Path, dry_run: bool, state_dir: Path) -> None:
    """Collect the provider's earnings from ended sessions (claimForProvider), within the stake cap."""
    from reconciler.commands.claim import run_claim

    sys.exit(run_claim(path, dry_run, state_dir))


@cli.command("status")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@state_dir_option("html: the watcher's state directory, for its last runs and the 30-day chart (read only).")
def status_cmd(path: Path, fmt: str, state_dir: Path) -> None:
    """Show the provider on one screen: stake, bids and prices, slots, live sessions, earnings, claimable, drift."""
    from reconciler.commands.status import run_status

    sys.exit(run_status(path, fmt, state_dir=state_dir))


def _register_watch() -> None:
    from reconciler.commands.watch import watch_cmd  # click only; the loop is imported when it runs

    cli.add_command(watch_cmd)


_register_watch()


def main() -> None:
    """The console script: expected failures are handled by each command; a bug is one line unless --verbose."""
    try:
        cli()
    except Exception as exc:
        if "--verbose" in sys.argv[1:]:
            raise
        click.echo(unexpected(exc), err=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
