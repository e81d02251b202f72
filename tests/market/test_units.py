"""Money is exact integers of wei: parsing and formatting."""

from fractions import Fraction

import pytest

from reconciler.market.pricing import to_fraction
from reconciler.market.units import AmountError, format_mor, parse_amount


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("0.1 MOR", 10**17),
        ("100000000000000000", 10**17),
        (100000000000000000, 10**17),
        ("0.3 mor", 3 * 10**17),
        ("1e17 wei", 10**17),
        ("0.00001 MOR", 10**13),
        ("5 gwei", 5 * 10**9),
        ("1_000 MOR", 1000 * 10**18),
        ("0.000000000000000001 MOR", 1),
    ],
)
def test_parse_amount_exact(text: object, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize(
    "bad", [0.1, True, None, "-1", "0.1 BTC", "0.0000000000000000001 MOR", "1.5 wei", "abc", "", [1]]
)
def test_parse_amount_refuses(bad: object) -> None:
    with pytest.raises(AmountError):
        parse_amount(bad)


def test_format_mor() -> None:
    assert format_mor(3 * 10**17) == "0.3 MOR"
    assert format_mor(10**18) == "1 MOR"
    assert format_mor(1) == "0.000000000000000001 MOR"
    assert format_mor(0) == "0 MOR"


MAX_UINT256 = 2**256 - 1


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        (str(MAX_UINT256), MAX_UINT256),  # pasted for an "unlimited" allowance: exact, not rounded to 28 digits
        ("123456789012345678901234567891", 123456789012345678901234567891),
        ("12345678901.123456789012345678 MOR", 12345678901123456789012345678),
    ],
)
def test_a_long_amount_is_exact_to_the_wei(text: str, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize("text", [str(2**256), "1e80 MOR", "1e1000000000 MOR", 2**256])
def test_an_amount_no_uint256_can_hold_is_refused(text: object) -> None:
    with pytest.raises(AmountError, match="more than"):
        parse_amount(text)


@pytest.mark.parametrize("text", ["1e999999999", "1E-999999999", "2e+100000"])
def test_a_number_with_a_huge_exponent_is_refused_at_once(text: str) -> None:
    """Fraction("1e999999999") builds a billion-digit integer: a typo in a cost model hung validate and the watcher."""
    with pytest.raises(ValueError, match="exponent"):
        to_fraction(text)


def test_ordinary_numbers_still_read_exactly() -> None:
    assert to_fraction("0.5") == Fraction(1, 2) and to_fraction("1/3") == Fraction(1, 3)
    assert to_fraction("2.5e3") == 2500 and to_fraction(" 7 ") == 7 and to_fraction(0.1) == Fraction(1, 10)
