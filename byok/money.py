"""How an amount of US dollars reads: ``$0.00042`` below a cent, ``$12.34`` above."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["usd"]


def usd(value: Decimal | None) -> str:
    """Sub-cent amounts keep their digits (limits and costs are often that small);
    an unknown amount says so, never $0."""
    if value is None:
        return "cost unknown"
    if value == 0:
        return "$0.00"
    if abs(value) < Decimal("0.000001"):
        return "<$0.000001"
    if abs(value) < Decimal("0.01"):
        return "$" + f"{value:.6f}".rstrip("0")
    return f"${value:,.2f}"
