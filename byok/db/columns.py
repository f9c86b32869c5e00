"""Column types that behave the same on SQLite and PostgreSQL.

Money is stored as whole nano-dollars in a BIGINT, so sums in SQL are exact on both
databases; Python sees :class:`~decimal.Decimal` dollars. Timestamps are stored as
UTC and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["NANOS_PER_USD", "Money", "UTCDateTime", "from_nanos", "to_nanos"]

NANOS_PER_USD = Decimal(1_000_000_000)


def to_nanos(value: Decimal) -> int:
    return int((value * NANOS_PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_nanos(value: int) -> Decimal:
    return Decimal(value) / NANOS_PER_USD


class Money(TypeDecorator[Decimal]):
    """USD as a Decimal in Python, integer nano-dollars in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        return None if value is None else to_nanos(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_nanos(int(value))


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite stores text; keep it tz-naive UTC there so comparisons sort correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
