"""On-chain ids, derived exactly as the Marketplace does (keccak256 of packed values)."""

from __future__ import annotations

from eth_utils import keccak, to_checksum_address

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
    return str(to_checksum_address(address))


def norm_hex(value: str) -> str:
    """Lower-case 0x-prefixed hex, the form used for comparisons and dict keys."""
    return "0x" + value.lower().removeprefix("0x")
