"""Network presets (from the reference table) and resolving a `NetworkSpec` to concrete addresses.

Presets can go stale: `plan` verifies chain id, code at the Diamond and `getToken()` before trusting them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler import EndpointUnusable
from reconciler.desired.model import NetworkSpec
from reconciler.desired.references import resolve
from reconciler.market.ids import checksum

DEVNET_DIR_ENV = "RECONCILE_DEVNET_DIR"


@dataclass(frozen=True)
class Preset:
    chain_id: int
    diamond: str
    mor: str
    op_stack: bool
    legacy: bool = False


PRESETS: dict[str, Preset] = {
    "base": Preset(
        8453, "0x6aBE1d282f72B474E54527D93b979A4f64d3030a", "0x7431aDa8a591C955a994a21710752EF9b882b8e3", True
    ),
    "base-sepolia": Preset(
        84532, "0xA328196f2438DADA5ab729E39388D86896c27c85", "0x5C80Ddd187054E1E4aBBfFCD750498e81d34FfA3", True
    ),
    "arbitrum": Preset(
        42161, "0xDE819AaEE474626E3f34Ef0263373357e5a6C71b", "0x092bAaDB7DEf4C3981454dD9c0A0D7FF07bCFc86", False, True
    ),
    "arbitrum-sepolia": Preset(
        421614, "0xb8C55cD613af947E73E262F0d3C54b7211Af16CF", "0x34a285A1B1C166420Df5b6630132542923B5b27E", False, True
    ),
}
OP_STACK_CHAIN_IDS = frozenset({8453, 84532, 10, 11155420})


class NetworkError(EndpointUnusable):
    """The network cannot be resolved (missing devnet.json, unset RPC URL reference...)."""


@dataclass(frozen=True)
class Network:
    """A resolved network. `rpc_url` may embed an API key: never print it (use `rpc_label`)."""

    name: str
    chain_id: int
    diamond: str
    mor: str
    rpc_url: str
    rpc_label: str
    op_stack: bool
    legacy: bool = False


def devnet_dir(spec: NetworkSpec, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if spec.devnet_dir:
        return Path(spec.devnet_dir)
    return Path(env.get(DEVNET_DIR_ENV, ".devnet"))


def resolve_network(spec: NetworkSpec, environ: Mapping[str, str] | None = None) -> Network:
    """Concrete chain id, addresses and RPC URL; devnet reads devnet.json."""
    chain_id, diamond, mor, op, legacy = spec.chain_id, spec.diamond, spec.mor, False, False
    rpc_url: str | None = None
    label = str(spec.rpc_url) if spec.rpc_url else ""
    name = spec.preset or "custom"
    if spec.preset == "devnet":
        d = devnet_dir(spec, environ)
        path = d / "devnet.json"
        if not path.is_file():
            raise NetworkError(f"network preset devnet: {path} not found; run `reconcile devnet up --dir {d}`")
        info = json.loads(path.read_text())
        chain_id = chain_id or int(info["chainId"])
        diamond = diamond or checksum(info["diamond"])
        mor = mor or checksum(info["mor"])
        rpc_url = str(info["rpcUrl"])
        label = label or f"devnet ({path})"
    elif spec.preset is not None:
        p = PRESETS[spec.preset]
        chain_id, diamond, mor = chain_id or p.chain_id, diamond or p.diamond, mor or p.mor
        op, legacy = p.op_stack, p.legacy
    if spec.rpc_url is not None:
        rpc_url = resolve(spec.rpc_url, environ)
        if rpc_url is None:
            raise NetworkError(f"network.rpcUrl: the reference {spec.rpc_url} has no value")
    if rpc_url is None or chain_id is None or diamond is None or mor is None:
        raise NetworkError("network: chainId, diamond, mor and rpcUrl are all needed")
    return Network(
        name=name,
        chain_id=chain_id,
        diamond=diamond,
        mor=mor,
        rpc_url=rpc_url,
        rpc_label=label,
        op_stack=spec.l1_data_fee if spec.l1_data_fee is not None else (op or chain_id in OP_STACK_CHAIN_IDS),
        legacy=legacy,
    )
