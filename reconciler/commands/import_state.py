"""`reconcile import`: read a provider from the chain and print a desired state that matches it (stdout).

The shell around `render_import`: resolve the network (named as the desired state names it: a preset, or a
chain id, Diamond and MOR), read the chain (the planner's observer with a desired state that declares nothing,
so it finds the provider's models in the registry's list, and its bids), recover base model ids from the
registering transactions, render. Notes for a person go to stderr. The chain side (web3) is imported when the
command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, handled, say
from reconciler.desired.model import Desired, NetworkSpec, ProviderSpec, SignerSpec
from reconciler.desired.references import BadReference, parse_reference

if TYPE_CHECKING:
    from reconciler.chain.reader import ChainReader


@dataclass(frozen=True)
class ImportNetwork:
    """The network options, with the desired state's rules: a preset, or all of chain id, Diamond and MOR."""

    preset: str | None = None
    chain_id: int | None = None
    diamond: str | None = None
    mor: str | None = None
    rpc_ref: str | None = None
    devnet_dir: Path | None = None

    def problem(self) -> str | None:
        from web3 import Web3

        for flag, value in (("--diamond", self.diamond), ("--mor", self.mor)):
            if value is not None and not Web3.is_address(value):
                return f"{flag} {value!r} is not an address"
        explicit = [v for v in (self.chain_id, self.diamond, self.mor) if v is not None]
        if self.preset is None and len(explicit) < 3:
            return "give --network PRESET, or all of --chain-id, --diamond and --mor"
        if self.preset != "devnet" and self.rpc_ref is None:
            return f"network {self.preset or 'custom'} needs --rpc-url env:NAME or file:PATH"
        return None


@click.command("import")
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
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    help="Keep the registry's model index (a cache) up to date in this existing state dir. Default: read it from "
    "./.reconcile if it is there, write nothing.",
)
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
    state_dir: Path | None,
) -> None:
    """Print (stdout) a desired state matching what PROVIDER has on chain now, with placeholders to fill in."""
    net = ImportNetwork(network_name, chain_id, diamond, mor, rpc_ref, devnet_dir)
    sys.exit(run_import(net, provider, from_block, log_block_range, state_dir=state_dir))


@handled
def run_import(
    net: ImportNetwork,
    provider: str,
    from_block: int | None = None,
    log_block_range: int | None = None,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
) -> int:
    """`state_dir`: an existing folder where the model index is kept up to date; None reads ./.reconcile's, if
    any, and writes nothing (a look never creates a state dir)."""
    from web3 import Web3

    from reconciler import DEFAULT_STATE_DIR
    from reconciler.chain.networks import resolve_network
    from reconciler.chain.reader import ChainReader
    from reconciler.chain.registrations import read_registrations
    from reconciler.chain.rpc import RpcError, UndecodableAnswer
    from reconciler.render.desired_yaml import ImportSource, render_import

    for flag, given in (("--from-block", from_block), ("--log-block-range", log_block_range)):
        if given is not None:
            click.echo(
                f"warning: {flag} is deprecated and ignored: models are found from the registry's list and each "
                "registration from its creation time, and log ranges adapt to the endpoint",
                err=True,
            )
    if not Web3.is_address(provider):
        click.echo(f"error: --provider {provider!r} is not an address", err=True)
        return EXIT_ERROR
    address = Web3.to_checksum_address(provider)
    problem = net.problem()
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        return EXIT_ERROR
    try:
        ref = parse_reference(net.rpc_ref, Path.cwd()) if net.rpc_ref else None
    except BadReference as exc:
        raise BadReference(f"--rpc-url: {exc}") from None
    diamond = Web3.to_checksum_address(net.diamond) if net.diamond else None
    mor = Web3.to_checksum_address(net.mor) if net.mor else None
    spec = NetworkSpec(
        preset=net.preset,
        chain_id=net.chain_id,
        diamond=diamond,
        mor=mor,
        rpc_url=ref,
        devnet_dir=str(net.devnet_dir.resolve()) if net.devnet_dir else None,
    )
    probe = Desired(
        network=spec,
        signer=SignerSpec(address=address),
        provider=ProviderSpec(address=address, endpoint="", stake=0),
    )
    try:
        network = resolve_network(spec, environ)
        reader = ChainReader.connect(
            network, state_dir=state_dir or DEFAULT_STATE_DIR, write_index=state_dir is not None and state_dir.is_dir()
        )
        chain = reader.observe(probe)
        owned = [m for m in chain.models if m.owner == address and not m.is_deleted]
        recoveries = read_registrations(
            reader.w3, network.diamond, address, owned, chain.block_number, chain.block_timestamp
        )
        source = ImportSource(
            preset=net.preset,
            rpc_url_ref=net.rpc_ref,
            devnet_dir=spec.devnet_dir,
            chain_id=net.chain_id,
            diamond=diamond,
            mor=mor,
        )
        result = render_import(chain, address, recoveries, source)
    except UndecodableAnswer:
        raise
    except RpcError as exc:
        raise RpcError(f"{exc}; is the devnet running? (`reconcile devnet up`)") from None
    click.echo(result.text, nl=False)
    for note in (*chain.notes, *result.notes):  # chain.notes: what others wrote that was skipped or repaired
        say(f"note: {note}", err=True)
    click.echo(
        f"imported provider {address} at block {chain.block_number}: {result.managed + result.existing} model(s) "
        f"({result.managed} own, {result.existing} by modelId), {result.bids} bid(s), "
        f"{reader.round_trips} RPC round trips{_wire(reader)}; fill in the lines marked '# fill in:' before "
        "`reconcile validate`",
        err=True,
    )
    return EXIT_OK


def _wire(reader: ChainReader) -> str:
    """What the endpoint saw (a metered endpoint bills calls): HTTP requests and JSON-RPC calls."""
    from reconciler.chain.rpc import endpoint_of

    p = endpoint_of(reader.w3)
    return f" ({p.stats.http_requests} HTTP requests, {p.stats.calls} calls)" if p is not None else ""
