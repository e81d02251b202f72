"""On-chain ids, derived exactly as the Marketplace does (keccak256 of packed values).

Keccak comes from pycryptodome, not eth_utils: this module is on the offline path (`reconcile validate`), which
must start quickly, and eth_utils alone costs more start-up time than the whole validation.
"""

from __future__ import annotations

import re

from Crypto.Hash import keccak as _keccak

_ADDRESS = re.compile(r"^(0x)?[0-9a-fA-F]{40}$")


def keccak(data: bytes) -> bytes:
    """keccak256 (Ethereum's, not NIST SHA3-256)."""
    return _keccak.new(data=data, digest_bits=256).digest()


BASE_MODEL_ID_DOMAIN = "morpheus-reconciler/baseModelId/v1:"


def _b(hexstr: str, size: int) -> bytes:
    raw = bytes.fromhex(hexstr.removeprefix("0x"))
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes of hex, got {len(raw)}")
    return raw


def model_id(owner: str, base_model_id: str) -> str:
    """keccak256(abi.encodePacked(address owner, bytes32 baseModelId)) as 0x-hex."""
    return "0x" + keccak(_b(owner, 20) + _b(base_model_id, 32)).hex()


def base_model_id_for_name(name: str) -> str:
    """A deterministic baseModelId from a model name, so re-runs never register a second model."""
    return "0x" + keccak((BASE_MODEL_ID_DOMAIN + name).encode("utf-8")).hex()


def bid_id(provider: str, model: str, nonce: int) -> str:
    """keccak256(abi.encodePacked(address provider, bytes32 modelId, uint256 nonce))."""
    return "0x" + keccak(_b(provider, 20) + _b(model, 32) + nonce.to_bytes(32, "big")).hex()


def checksum(address: str) -> str:
    """The EIP-55 mixed-case form of a 20-byte hex address; anything else is a ValueError."""
    if not _ADDRESS.match(address):
        raise ValueError(f"not a 20-byte hex address: {address!r}")
    lower = address[-40:].lower()
    digest = keccak(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest[:40], strict=True))


def norm_hex(value: str) -> str:
    """Lower-case 0x-prefixed hex, the form used for comparisons and dict keys."""
    return "0x" + value.lower().removeprefix("0x")
