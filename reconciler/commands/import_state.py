"""`reconcile import`: read a provider from the chain and print a desired state that matches it (stdout); or,
with several `--provider` and `--out DIR`, write them as a fleet folder (reconciler.render.fleet_import).

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
    from reconciler.observe.model import ChainState
    from reconciler.render.desired_yaml import Imported


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
@click.option(
    "--provider",
    "providers",
    required=True,
    multiple=True,
    help="The provider address to import (repeatable: several, with --out, are imported as a fleet).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Write a fleet folder here (fleet.yaml, shared.yaml, a folder per provider) instead of printing one "
    "provider; refused when it exists and is not empty.",
)
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
    providers: tuple[str, ...],
    out_dir: Path | None,
    devnet_dir: Path | None,
    from_block: int | None,
    log_block_range: int | None,
    state_dir: Path | None,
) -> None:
    """Print (stdout) a desired state matching what PROVIDER has on chain now, with placeholders to fill in; with
    --out DIR, write the fleet of every PROVIDER given there instead."""
    net = ImportNetwork(network_name, chain_id, diamond, mor, rpc_ref, devnet_dir)
    sys.exit(run_import(net, providers, from_block, log_block_range, out_dir=out_dir, state_dir=state_dir))


@handled
def run_import(
    net: ImportNetwork,
    providers: str | tuple[str, ...],
    from_block: int | None = None,
    log_block_range: int | None = None,
    environ: Mapping[str, str] | None = None,
    out_dir: Path | None = None,
    state_dir: Path | None = None,
) -> int:
    """One provider printed, or (--out DIR) every provider given written as a fleet. `state_dir`: an existing
    folder where the model index is kept up to date; None reads ./.reconcile's, if any, and writes nothing (a
    look never creates a state dir)."""
    given = (providers,) if isinstance(providers, str) else providers
    if out_dir is not None:
        return _import_fleet(net, given, out_dir, from_block, log_block_range, environ, state_dir)
    if len(given) > 1:
        click.echo("error: several --provider are imported as a fleet: give --out DIR", err=True)
        return EXIT_ERROR
    return _import_one(net, given[0], from_block, log_block_range, environ, state_dir)


def _import_one(
    net: ImportNetwork,
    provider: str,
    from_block: int | None = None,
    log_block_range: int | None = None,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
) -> int:
    from web3 import Web3

    _deprecated(from_block, log_block_range)
    if not Web3.is_address(provider):
        click.echo(f"error: --provider {provider!r} is not an address", err=True)
        return EXIT_ERROR
    address = Web3.to_checksum_address(provider)
    problem = net.problem()
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        return EXIT_ERROR
    result, chain, reader = _read_and_render(net, address, environ, state_dir)
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


def _deprecated(from_block: int | None, log_block_range: int | None) -> None:
    for flag, given in (("--from-block", from_block), ("--log-block-range", log_block_range)):
        if given is not None:
            click.echo(
                f"warning: {flag} is deprecated and ignored: models are found from the registry's list and each "
                "registration from its creation time, and log ranges adapt to the endpoint",
                err=True,
            )


def _read_and_render(
    net: ImportNetwork, address: str, environ: Mapping[str, str] | None, state_dir: Path | None = None
) -> tuple[Imported, ChainState, ChainReader]:
    """Read one provider from the chain and write its desired state (raises NotAProvider, RpcError, ...)."""
    from web3 import Web3

    from reconciler import DEFAULT_STATE_DIR
    from reconciler.chain.networks import resolve_network
    from reconciler.chain.reader import ChainReader
    from reconciler.chain.registrations import read_registrations
    from reconciler.chain.rpc import RpcError, UndecodableAnswer
    from reconciler.render.desired_yaml import ImportSource, render_import

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
        write_index = state_dir is not None and state_dir.is_dir()  # never ./.reconcile unasked, nor a new folder
        reader = ChainReader.connect(network, state_dir=state_dir or DEFAULT_STATE_DIR, write_index=write_index)
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
    return result, chain, reader


def _import_fleet(
    net: ImportNetwork,
    providers: tuple[str, ...],
    out_dir: Path,
    from_block: int | None = None,
    log_block_range: int | None = None,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
) -> int:
    """Import every provider into one fleet folder (docs/fleet.md, "Import a fleet"): nothing is written unless
    every one of them was read, and never over an existing non-empty folder."""
    from web3 import Web3

    from reconciler.render.fleet_import import ImportedMember, render_fleet_import

    _deprecated(from_block, log_block_range)
    bad = [p for p in providers if not Web3.is_address(p)]
    if bad:
        click.echo(f"error: --provider {bad[0]!r} is not an address", err=True)
        return EXIT_ERROR
    addresses = [Web3.to_checksum_address(p) for p in providers]
    twice = next((a for i, a in enumerate(addresses) if a in addresses[:i]), None)
    if twice is not None:  # two members of one provider on one network: the fleet's validation would refuse it
        click.echo(
            f"error: --provider {twice} is given twice (addresses are compared in any case): a fleet has one member "
            "per provider and network; give each provider once",
            err=True,
        )
        return EXIT_ERROR
    problem = net.problem()
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        return EXIT_ERROR
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        click.echo(f"error: --out {out_dir} exists and is not an empty folder: nothing was overwritten", err=True)
        return EXIT_ERROR
    members = []
    for i, address in enumerate(addresses, start=1):
        result, chain, reader = _read_and_render(net, address, environ, state_dir)
        members.append(ImportedMember(f"provider-{i}", result))
        say(
            f"provider-{i}: {address} at block {chain.block_number}: {result.managed + result.existing} model(s), "
            f"{result.bids} bid(s), {reader.round_trips} RPC round trips{_wire(reader)}",
            err=True,
        )
        for note in chain.notes:
            say(f"note: provider-{i}: {note}", err=True)
    fleet = render_fleet_import(members)
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel, text in fleet.files.items():
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_text(text)
    for note in fleet.notes:
        say(f"note: {note}", err=True)
    shared = ", ".join(fleet.shared_models) or "none"
    click.echo(
        f"imported a fleet of {len(members)} provider(s) into {out_dir}: shared model definitions: {shared}; "
        "fill in the lines marked '# fill in:' before `reconcile validate`",
        err=True,
    )
    return EXIT_OK


def _wire(reader: ChainReader) -> str:
    """What the endpoint saw (a metered endpoint bills calls): HTTP requests and JSON-RPC calls."""
    from reconciler.chain.rpc import endpoint_of

    p = endpoint_of(reader.w3)
    return f" ({p.stats.http_requests} HTTP requests, {p.stats.calls} calls)" if p is not None else ""
