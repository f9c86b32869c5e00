"""The database's clock, in seconds since the epoch, as an SQL expression.

Instances compare lease and rate-limit times by this one clock, so hosts whose clocks
disagree still agree on whose lease has run out. PostgreSQL's ``clock_timestamp()`` is
the wall time of the statement (``now()`` would be the transaction's start); SQLite runs
on the one host that holds the file, where ``julianday('now')`` has millisecond precision.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Double, func, literal_column, type_coerce
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["db_seconds"]

_UNIX_EPOCH_JULIAN_DAY = 2440587.5
_SECONDS_PER_DAY = 86400.0


def db_seconds(dialect: str) -> ColumnElement[float]:
    """Now, by the database's clock, as float seconds since 1970-01-01 UTC."""
    expression: ColumnElement[Any]
    if dialect == "postgresql":
        expression = func.extract("epoch", func.clock_timestamp())
    else:
        expression = (func.julianday(literal_column("'now'")) - _UNIX_EPOCH_JULIAN_DAY) * (
            _SECONDS_PER_DAY
        )
    return type_coerce(expression, Double())
