"""Quota notices: once at 80% and once at 100% of a monthly limit, per key and month.

Limits reserve each request's worst-case cost, so spend rarely lands exactly on the
limit: the 100% notice also fires when, past 80%, the limit starts refusing requests.
Below 80% a refusal is about that one request's size, and its reply already says so.

The claim is an INSERT guarded by a unique constraint, so two requests (or two
bot instances) crossing a threshold together produce one notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from byok.db.database import Database
from byok.db.tables import AlertLog
from byok.usage import month_bounds

__all__ = ["THRESHOLDS", "QuotaNotice", "claim_quota_notices"]

THRESHOLDS = (80, 100)


@dataclass(frozen=True, slots=True)
class QuotaNotice:
    """A threshold of a monthly limit crossed; the command layer words it for people
    (``bot.alert_delivery.notice_text``)."""

    provider_id: str
    threshold: int
    spent: Decimal
    limit: Decimal
    operator_key: bool = False

    @property
    def percent(self) -> int:
        """How much of the limit is spent, to the nearest whole percent: the figure a
        notice states, not the threshold it crossed. Never 100 while some is left."""
        if self.limit <= 0:
            return 100
        nearest = int((self.spent * 100 / self.limit).to_integral_value(ROUND_HALF_UP))
        return min(nearest, 99) if self.spent < self.limit else nearest


async def claim_quota_notices(
    database: Database,
    *,
    user_ref: int,
    provider_id: str,
    spent: Decimal,
    limit: Decimal,
    now: datetime,
    operator_key: bool = False,
    refused: bool = False,
) -> list[QuotaNotice]:
    """The notices newly due for this spend; each is returned by exactly one caller.

    ``refused``: the limit has just refused a request.
    """
    reached = [100] if limit <= 0 else [t for t in THRESHOLDS if spent * 100 >= limit * t]
    if refused and reached and 100 not in reached:
        reached.append(100)
    if not reached:
        return []
    month = month_bounds(now)[0].date()
    alert_provider = f"operator:{provider_id}" if operator_key else provider_id
    notices = []
    async with database.session() as session:
        insert = pg_insert if database.dialect == "postgresql" else sqlite_insert
        for threshold in reached:
            result = await session.execute(
                insert(AlertLog)
                .values(
                    user_ref=user_ref,
                    provider=alert_provider,
                    month=month,
                    threshold=threshold,
                    status="claimed",
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
            if result.rowcount:  # type: ignore[attr-defined]
                notices.append(QuotaNotice(provider_id, threshold, spent, limit, operator_key))
    return notices
