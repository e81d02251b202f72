"""Money is exact integers of wei: parsing and formatting."""

import pytest

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
