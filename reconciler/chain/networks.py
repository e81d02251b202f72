"""Resolving a `NetworkSpec` to concrete addresses: a preset's from the reference table (its data in
reconciler.desired.presets, re-exported here), a devnet's from its devnet.json, or the ones written out.

Presets can go stale: `plan` verifies chain id, code at the Diamond and `getToken()` before trusting them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import EndpointUnusable
from reconciler.desired.model import NetworkSpec
from reconciler.desired.presets import PRESETS as PRESETS
from reconciler.desired.references import resolve
from reconciler.market.ids import checksum

DEVNET_DIR_ENV = "RECONCILE_DEVNET_DIR"
OP_STACK_CHAIN_IDS = frozenset({8453, 84532, 10, 11155420})
CUSTOM_CONFIRMATIONS = 1  # a chain without a preset: one block on top
LOCAL_CHAIN_IDS = frozenset({31337, 1337})  # anvil's and hardhat's: blocks come only with transactions
DEVNET_CONFIRMATIONS = 0  # anvil mines on demand: nothing would ever be built on top


_HTTP_URL = re.compile(r"^https?://[^\s/?#]+\S*$", re.I)  # what the endpoint client can send to, nothing else


class NetworkError(EndpointUnusable):
    """The network cannot be resolved (missing devnet.json, unset RPC URL reference...)."""


@dataclass(frozen=True)
class Network:
    """A resolved network. An RPC URL may embed an API key: never print one (use its label).

    `rpc_url` and `rpc_label` are the first of `rpc_urls` / `rpc_labels` (one endpoint, for the callers that
    need only one); `endpoints()` is every one, for `chain.rpc.connect_all`."""

    name: str
    chain_id: int
    diamond: str
    mor: str
    rpc_url: str
    rpc_label: str
    op_stack: bool
    legacy: bool = False
    rpc_urls: tuple[str, ...] = ()
    rpc_labels: tuple[str, ...] = ()
    confirmations: int = 0

    def endpoints(self) -> list[tuple[str, str]]:
        """(URL, label) of every endpoint, the first one first."""
        if not self.rpc_urls:
            return [(self.rpc_url, self.rpc_label)]
        return list(zip(self.rpc_urls, self.rpc_labels, strict=True))

    def __repr__(self) -> str:  # never the URLs
        return (
            f"Network({self.name}, chain {self.chain_id}, endpoints {', '.join(self.rpc_labels or (self.rpc_label,))})"
        )


def devnet_dir(spec: NetworkSpec, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if spec.devnet_dir:
        return Path(spec.devnet_dir)
    return Path(env.get(DEVNET_DIR_ENV, ".devnet"))


def read_devnet_info(path: Path) -> dict[str, Any]:
    """devnet.json as `reconcile devnet up` writes it; anything else is named (never its RPC URL) with the way out."""
    fix = f"delete it and run `reconcile devnet up --dir {path.parent}`"
    try:
        info = json.loads(path.read_bytes())
    except OSError as exc:
        raise NetworkError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise NetworkError(f"{path} is not JSON; {fix}") from None
    if not isinstance(info, dict):
        raise NetworkError(f"{path} is not a JSON object; {fix}")
    chain_id = info.get("chainId")
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id < 1:
        raise NetworkError(f"{path}: chainId is missing or not a positive integer; {fix}")
    for key in ("diamond", "mor"):
        value = info.get(key)
        try:
            checksum(value if isinstance(value, str) else "")
        except ValueError:
            raise NetworkError(f"{path}: {key} is missing or not an address; {fix}") from None
    if not isinstance(info.get("rpcUrl"), str) or not info["rpcUrl"]:
        raise NetworkError(f"{path}: rpcUrl is missing or not a string; {fix}")
    return info


def resolve_network(spec: NetworkSpec, environ: Mapping[str, str] | None = None) -> Network:
    """Concrete chain id, addresses and RPC URL; devnet reads devnet.json."""
    chain_id, diamond, mor, op, legacy = spec.chain_id, spec.diamond, spec.mor, False, False
    confirmations = CUSTOM_CONFIRMATIONS
    rpc_url: str | None = None
    refs = spec.rpc_urls or ((spec.rpc_url,) if spec.rpc_url is not None else ())
    label = str(refs[0]) if refs else ""
    name = spec.preset or "custom"
    if spec.preset == "devnet":
        d = devnet_dir(spec, environ)
        path = d / "devnet.json"
        if not path.is_file():
            raise NetworkError(
                f"network preset devnet: {path} not found. A devnet started elsewhere: point to its folder with "
                f"`network.devnetDir` in the desired state or {DEVNET_DIR_ENV} (the folder given to "
                f"`reconcile devnet up --dir`); none yet: run `reconcile devnet up --dir {d}`"
            )
        info = read_devnet_info(path)
        chain_id = chain_id or info["chainId"]
        diamond = diamond or checksum(info["diamond"])
        mor = mor or checksum(info["mor"])
        rpc_url = info["rpcUrl"]
        label = label or f"devnet ({path})"
        confirmations = DEVNET_CONFIRMATIONS
    elif spec.preset is not None:
        p = PRESETS[spec.preset]
        chain_id, diamond, mor = chain_id or p.chain_id, diamond or p.diamond, mor or p.mor
        op, legacy, confirmations = p.op_stack, p.legacy, p.confirmations
    urls: list[str] = []
    for ref in refs:
        url = resolve(ref, environ)
        field = "rpcUrls" if spec.rpc_urls else "rpcUrl"
        if url is None:
            raise NetworkError(f"network.{field}: the reference {ref} has no value")
        if not _HTTP_URL.match(url):
            raise NetworkError(
                f"network.{field}: the value of {ref} is not an http(s) URL (value not shown: it may hold a key); "
                "check it for a missing scheme, spaces or a CRLF line end"
            )
        urls.append(url)
    if urls:
        rpc_url = urls[0]
    else:
        urls = [rpc_url] if rpc_url is not None else []
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
        rpc_urls=tuple(urls),
        rpc_labels=tuple(str(r) for r in refs) if refs else (label,),
        confirmations=spec.confirmations
        if spec.confirmations is not None
        else (DEVNET_CONFIRMATIONS if chain_id in LOCAL_CHAIN_IDS else confirmations),
    )
