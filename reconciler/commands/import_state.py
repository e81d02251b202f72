"""`reconcile import`: read a provider from the chain and print a desired state that matches it (stdout).

The shell around `importer.render_import`: resolve the network, read the chain (the planner's observer with a
desired state that declares nothing, so it discovers the provider's models by their logs and its bids), recover
base model ids from the registering transactions, render. Notes for a person go to stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click
from web3 import Web3

from reconciler.chain.networks import NetworkError, resolve_network
from reconciler.chain.reader import ChainCheckError, ChainReader
from reconciler.chain.registrations import read_registrations
from reconciler.chain.rpc import RpcError
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK
from reconciler.desired.model import Desired, NetworkSpec, ProviderSpec, SignerSpec
from reconciler.desired.references import BadReference, parse_reference
from reconciler.render.desired_yaml import ImportSource, render_import


def run_import(
    network_name: str,
    rpc_ref: str | None,
    provider: str,
    devnet_dir: Path | None,
    from_block: int,
    log_block_range: int,
    environ: Mapping[str, str] | None = None,
) -> int:
    if not Web3.is_address(provider):
        click.echo(f"error: --provider {provider!r} is not an address", err=True)
        return EXIT_ERROR
    address = Web3.to_checksum_address(provider)
    try:
        ref = parse_reference(rpc_ref, Path.cwd()) if rpc_ref else None
    except BadReference as exc:
        click.echo(f"error: --rpc-url: {exc}", err=True)
        return EXIT_ERROR
    if network_name != "devnet" and ref is None:
        click.echo(f"error: network {network_name} needs --rpc-url env:NAME or file:PATH", err=True)
        return EXIT_ERROR
    spec = NetworkSpec(
        preset=network_name,
        chain_id=None,
        diamond=None,
        mor=None,
        rpc_url=ref,
        devnet_dir=str(devnet_dir.resolve()) if devnet_dir else None,
        log_block_range=log_block_range,
        from_block=from_block,
    )
    probe = Desired(
        network=spec,
        signer=SignerSpec(address=address),
        provider=ProviderSpec(address=address, endpoint="", stake=0),
    )
    try:
        network = resolve_network(spec, environ)
        reader = ChainReader.connect(network)
        chain = reader.observe(probe)
        owned = [m.model_id for m in chain.models if m.owner == address and not m.is_deleted]
        recoveries = read_registrations(
            reader.w3, network.diamond, address, owned, from_block, chain.block_number, log_block_range
        )
        source = ImportSource(
            preset=network_name,
            rpc_url_ref=rpc_ref,
            devnet_dir=spec.devnet_dir,
            from_block=from_block or None,
            log_block_range=log_block_range if log_block_range != 10_000 else None,
        )
        result = render_import(chain, address, recoveries, source)
    except (NetworkError, ChainCheckError, RpcError, ValueError) as exc:
        hint = "; is the devnet running? (`reconcile devnet up`)" if isinstance(exc, RpcError) else ""
        click.echo(f"error: {exc}{hint}", err=True)
        return EXIT_ERROR
    click.echo(result.text, nl=False)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"imported provider {address} at block {chain.block_number}: {result.managed + result.existing} model(s) "
        f"({result.managed} own, {result.existing} by modelId), {result.bids} bid(s), "
        f"{reader.round_trips} RPC round trips; fill in the lines marked '# fill in:' before `reconcile validate`",
        err=True,
    )
    return EXIT_OK
