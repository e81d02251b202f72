"""The known deployments a desired state names with `network.preset`: each one's chain id, marketplace (Diamond)
and MOR token, and how its chain is read.

Why here: this is data, not a chain adapter. The chain adapter (reconciler.chain.networks) resolves a network
from it, and the fleet's checks (reconciler.desired.fleet) read a preset's chain id and marketplace from it to
tell that `preset: base` and Base's chain id written out are one network, without importing the chain package.
The devnet preset is not here: its addresses come from the devnet's devnet.json.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    chain_id: int
    diamond: str
    mor: str
    op_stack: bool
    legacy: bool = False
    confirmations: int = 3


PRESETS: dict[str, Preset] = {
    "base": Preset(
        8453, "0x6aBE1d282f72B474E54527D93b979A4f64d3030a", "0x7431aDa8a591C955a994a21710752EF9b882b8e3", True
    ),
    "base-sepolia": Preset(
        84532,
        "0xA328196f2438DADA5ab729E39388D86896c27c85",
        "0x5C80Ddd187054E1E4aBBfFCD750498e81d34FfA3",
        True,
        False,
        1,
    ),
    "arbitrum": Preset(
        42161, "0xDE819AaEE474626E3f34Ef0263373357e5a6C71b", "0x092bAaDB7DEf4C3981454dD9c0A0D7FF07bCFc86", False, True
    ),
    "arbitrum-sepolia": Preset(
        421614,
        "0xb8C55cD613af947E73E262F0d3C54b7211Af16CF",
        "0x34a285A1B1C166420Df5b6630132542923B5b27E",
        False,
        True,
        1,
    ),
}
