"""The bounds of what users and operators type, each defined once.

Lengths are read from the database columns that store the value: PostgreSQL refuses a
longer one (and with it a batch of usage rows), so a name is checked where it is typed.
Adapters read the same numbers for their forms' ``max_length``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, String

from byok.db.tables import UsageEvent, UserApiKey
from byok.images import MAX_IMAGE_FILE_BYTES

__all__ = [
    "LABEL_MAX_CHARS",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_TOKENS",
    "MODEL_MAX_CHARS",
    "MONTHLY_LIMIT_MAX_USD",
    "MONTHLY_LIMIT_MIN_USD",
    "PROVIDER_ID_MAX_CHARS",
    "readable_bound",
]


def _length(column: ColumnElement[Any]) -> int:
    kind = column.type
    if not isinstance(kind, String) or kind.length is None:
        raise TypeError(f"{column} is not a string column of fixed length")
    return kind.length


#: A key's label (``/byok add --label``, the key forms).
LABEL_MAX_CHARS = _length(UserApiKey.__table__.c.label)
#: A model name (``--model``, preferred and allowed models): it is written to every usage row.
MODEL_MAX_CHARS = _length(UsageEvent.__table__.c.model)
#: A provider id (operator-added ones in the config); Discord choices and Slack options
#: (75 characters) hold it too, with room for our prefixes.
PROVIDER_ID_MAX_CHARS = _length(UsageEvent.__table__.c.provider)

#: The longest answer one may ask for (``--max-tokens``, the max-tokens preference, the
#: configured default): above what any supported model writes in one answer.
MAX_TOKENS = 200_000

#: A monthly limit per key. Below a cent it would refuse every request (and a tiny one
#: rounds to $0 in storage); above a million dollars it is a typo, not a limit.
MONTHLY_LIMIT_MIN_USD = Decimal("0.01")
MONTHLY_LIMIT_MAX_USD = Decimal(1_000_000)


def readable_bound(value: float | Decimal) -> str:
    """A bound as a message shows it: ``200,000``, ``1,000,000``, ``0.5``."""
    return f"{int(value):,}" if value == int(value) else f"{value:,}"
