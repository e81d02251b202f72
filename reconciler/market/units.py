"""MOR amounts: exact integers in wei, parsed from `0.1 MOR`, `100000000000000000` or `1e17 wei`; never floats."""

from __future__ import annotations

import re
from decimal import Decimal, Inexact, InvalidOperation, localcontext

from reconciler import DesiredStateInvalid

WEI_PER_MOR = 10**18
MAX_UINT256 = 2**256 - 1  # the most any amount on chain can be
_TOO_BIG = "is more than a uint256 can hold (2**256 - 1 wei)"

_AMOUNT = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9_]+)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")
_UNITS = {"": 1, "wei": 1, "gwei": 10**9, "mor": WEI_PER_MOR, "ether": WEI_PER_MOR, "eth": WEI_PER_MOR}


class AmountError(DesiredStateInvalid, ValueError):
    """An amount that is not an exact whole number of wei."""


def parse_amount(value: object, default_unit: str = "wei") -> int:
    """Parse an amount to wei. Ints pass through; strings may carry a unit (MOR, wei, gwei).

    Floats are refused: YAML `0.1` is a float and cannot say an exact amount; write `"0.1 MOR"`.
    A value that is not a whole number of wei (e.g. `0.0000000000000000001 MOR`) is refused, not rounded.
    """
    if isinstance(value, bool):
        raise AmountError(f"expected an amount, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise AmountError(f"amount must not be negative: {value}")
        if value > MAX_UINT256:
            raise AmountError(f"{value} {_TOO_BIG}")
        return value
    if isinstance(value, float):
        raise AmountError(
            f"{value!r} is a float, which cannot hold an exact amount; write it as a string "
            f'with a unit, e.g. "{value} MOR", or as an integer number of wei'
        )
    if not isinstance(value, str):
        raise AmountError(f'expected an amount like "0.1 MOR" or an integer of wei, got {value!r}')
    m = _AMOUNT.match(value)
    if not m:
        raise AmountError(f'cannot read {value!r} as an amount; write e.g. "0.1 MOR" or "100000000000000000"')
    number, unit = m.group(1).replace("_", ""), (m.group(2) or default_unit).lower()
    if unit not in _UNITS:
        raise AmountError(f"unknown unit {m.group(2)!r} in {value!r}; use MOR, gwei or wei")
    try:
        written = Decimal(number)  # exact, whatever its length
    except InvalidOperation as exc:  # pragma: no cover - the regex already guarantees a number
        raise AmountError(f"cannot read {value!r} as an amount") from exc
    if written.adjusted() > 90:  # refused before any arithmetic: 1e1000000000 would never finish
        raise AmountError(f"{value!r} {_TOO_BIG}")
    with localcontext() as ctx:  # the default 28 digits would round a long amount silently
        ctx.prec, ctx.traps[Inexact] = 400, True
        try:
            exact = written * _UNITS[unit]
        except Inexact:
            raise AmountError(f"{value!r} has more digits than any amount of wei") from None
    if exact != exact.to_integral_value():
        raise AmountError(f"{value!r} is not a whole number of wei")
    if exact > MAX_UINT256:
        raise AmountError(f"{value!r} {_TOO_BIG}")
    return int(exact)


def format_mor(wei: int, max_decimals: int = 18) -> str:
    """`300000000000000000` -> `0.3 MOR`; exact, trailing zeros trimmed."""
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), WEI_PER_MOR)
    text = f"{frac:018d}"[:max_decimals].rstrip("0")
    return f"{sign}{whole}{'.' + text if text else ''} MOR"
