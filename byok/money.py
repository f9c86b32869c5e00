"""How an amount of US dollars reads, on every surface: ``$12.34``, ``$0.0123``, ``$0.00042``.

From a dollar up, cents. Below a dollar, three significant digits (at least two
decimals), so sub-cent costs and chart ticks stay distinct instead of all reading
``$0.00`` or ``$0.01``. An unknown amount reads ``unknown``, never ``$0``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["UNKNOWN", "usd"]

UNKNOWN = "unknown"
_SIGNIFICANT_BELOW_A_DOLLAR = 3
_SMALLEST_SHOWN = Decimal("0.000001")
_CENT = Decimal("0.01")


def usd(value: Decimal | None) -> str:
    """``$1,234.50``, ``$0.50``, ``$0.0123``, ``$0.00042``, ``<$0.000001``; None is ``unknown``."""
    if value is None:
        return UNKNOWN
    sign = "-" if value < 0 else ""
    size = abs(value)
    if size == 0:
        return "$0.00"
    if size < _SMALLEST_SHOWN:
        return f"{sign}<${_SMALLEST_SHOWN}"
    if size >= 1:
        return f"{sign}${size.quantize(_CENT, ROUND_HALF_UP):,}"
    decimals = max(2, _SIGNIFICANT_BELOW_A_DOLLAR - 1 - size.adjusted())
    rounded = size.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    if rounded >= 1:  # 0.9996 rounds up to a dollar: show it as one
        return f"{sign}${rounded.quantize(_CENT):,}"
    digits = f"{rounded:f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    return f"{sign}${whole}.{fraction.ljust(2, '0')}"
