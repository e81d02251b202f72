"""Revert data decoded into the contract's custom error names and arguments, then said in words.

`ProviderStakeTooLow(200000000000000000, ...)` reads better as
`ProviderStakeTooLow: stake 0.1 MOR below minimum 0.2 MOR`. Pure: it needs only ABIs and bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from reconciler.market.units import format_mor

ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


@dataclass(frozen=True)
class DecodedError:
    name: str
    args: tuple[Any, ...]
    arg_names: tuple[str, ...]

    def __str__(self) -> str:
        return describe(self)


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_abi_type(i) for i in entry.get('inputs', []))})"


def _abi_type(inp: dict[str, Any]) -> str:
    t = str(inp["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in inp["components"]) + ")" + t[5:]
    return t


class ErrorDecoder:
    """Knows the custom errors of a set of ABIs, by 4-byte selector."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, dict[str, Any]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") == "error":
                    self._errors[keccak(text=_signature(entry))[:4]] = entry

    def decode(self, data: bytes | str | None) -> DecodedError | None:
        if data is None:
            return None
        raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else data
        if len(raw) < 4:
            return None
        selector, body = raw[:4], raw[4:]
        if selector == ERROR_STRING:
            return DecodedError("Error", tuple(abi_decode(["string"], body)), ("message",))
        if selector == PANIC:
            return DecodedError("Panic", tuple(abi_decode(["uint256"], body)), ("code",))
        entry = self._errors.get(selector)
        if entry is None:
            return DecodedError(f"unknown error 0x{selector.hex()}", (), ())
        inputs = entry.get("inputs", [])
        values = abi_decode([_abi_type(i) for i in inputs], body) if inputs else ()
        return DecodedError(entry["name"], tuple(values), tuple(str(i.get("name", "")) for i in inputs))


def _addr(value: Any) -> str:
    return str(to_checksum_address(value))


_WORDS = {
    "ProviderStakeTooLow": lambda a: f"stake {format_mor(a[0])} below minimum {format_mor(a[1])}",
    "ModelStakeTooLow": lambda a: f"stake {format_mor(a[0])} below minimum {format_mor(a[1])}",
    "ProviderHasActiveBids": lambda a: "the provider still has active bids; delete them first",
    "ProviderNotFound": lambda a: "no such provider is registered",
    "ProviderHasAlreadyDeregistered": lambda a: "the provider is already deregistered",
    "ModelHasActiveBids": lambda a: "the model still has active bids; delete them first",
    "ModelHasAlreadyDeregistered": lambda a: "the model is already deregistered",
    "ModelNotFound": lambda a: "no such model",
    "MarketplaceProviderNotFound": lambda a: "the provider is not registered (or deregistered)",
    "MarketplaceModelNotFound": lambda a: "the model is not registered (or deregistered)",
    "MarketplaceActiveBidNotFound": lambda a: "the bid is not active",
    "MarketplaceBidPricePerSecondInvalid": lambda a: "price per second is outside the chain's bounds",
    "InsufficientRightsForOperation": lambda a: f"{_addr(a[1])} holds no delegated right to act for {_addr(a[0])}",
    "ERC20InsufficientAllowance": lambda a: (
        f"MOR allowance of {_addr(a[0])} is {format_mor(a[1])}, needs {format_mor(a[2])}; approve more"
    ),
    "ERC20InsufficientBalance": lambda a: (
        f"MOR balance of {_addr(a[0])} is {format_mor(a[1])}, needs {format_mor(a[2])}"
    ),
    "OwnableUnauthorizedAccount": lambda a: f"{_addr(a[0])} is not the contract owner",
    "Error": lambda a: str(a[0]),
    "Panic": lambda a: f"panic code 0x{a[0]:02x}",
}


def describe(err: DecodedError) -> str:
    words = _WORDS.get(err.name)
    if words is not None:
        try:
            return f"{err.name}: {words(err.args)}"
        except (IndexError, TypeError, ValueError):
            pass
    if not err.args:
        return err.name
    parts = ", ".join(f"{n or f'arg{i}'}={v!r}" for i, (n, v) in enumerate(zip(err.arg_names, err.args, strict=False)))
    return f"{err.name}({parts})"
