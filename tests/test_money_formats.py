"""The one money format every surface uses (byok.money.usd via bot.formatting)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.formatting import cost_text, limit_spend, money, spend


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (None, "unknown"),
        ("0", "$0.00"),
        ("0.0123", "$0.0123"),
        ("0.00042", "$0.00042"),
        ("0.0087", "$0.0087"),
        ("0.012345678", "$0.0123"),
        ("0.5", "$0.50"),
        ("0.125", "$0.125"),
        ("0.9996", "$1.00"),
        ("1", "$1.00"),
        ("12.345", "$12.35"),
        ("1000000", "$1,000,000.00"),
        ("0.00000123", "$0.00000123"),
        ("0.0000001", "<$0.000001"),
        ("-0.25", "-$0.25"),
    ],
)
def test_money(amount: str | None, shown: str) -> None:
    assert money(None if amount is None else Decimal(amount)) == shown


def test_a_sum_with_requests_of_unknown_cost() -> None:
    assert spend(Decimal("1.23")) == "$1.23"
    assert spend(Decimal("1.23"), 2) == "$1.23 + 2 requests of unknown cost"
    assert spend(Decimal("0.0032"), 1) == "$0.0032 + 1 request of unknown cost"
    assert spend(Decimal(0), 2) == "unknown"
    assert spend(None) == "unknown"
    assert cost_text(Decimal(0), 2) == "cost unknown"
    assert cost_text(Decimal("1.23"), 2) == "$1.23 + 2 requests of unknown cost"


def test_month_to_date_against_a_limit() -> None:
    assert limit_spend(Decimal("0.85"), Decimal(10)) == "$0.85 of $10.00 (8%)"
    assert limit_spend(Decimal("0.85"), Decimal(10), 1) == (
        "$0.85 of $10.00 (8%) + 1 request of unknown cost"
    )
    assert limit_spend(Decimal(0), Decimal(10), 2) == (
        "unknown (2 requests of unknown cost), limit $10.00"
    )
    assert limit_spend(Decimal("0.14"), None) == "$0.14, no monthly limit"
    assert limit_spend(Decimal(0), None, 1) == "unknown, no monthly limit"
