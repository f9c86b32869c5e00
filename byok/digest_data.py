"""Usage aggregates for the weekly digest: one week, every user, grouped in SQL.

:func:`load_digest_data` returns, for every user who should get a digest: the week
by provider and model (with failures and fallbacks), the week before by provider,
failures by kind, and month-to-date spend per key against its monthly limit.
:func:`load_daily_costs` returns daily cost by provider for the chart, for a batch
of users at a time (it is the largest result, and only needed as each digest is
drawn). Every number comes from a GROUP BY; usage rows never reach Python.

Numbers follow :class:`byok.usage.UsageLedger`: a request is a finished attempt;
``cost`` sums known prices and requests whose price is unknown are counted apart,
never as $0; month-to-date spend counts a row's cost, else its reservation, exactly
as limits are enforced (UTC calendar month, the user's own key). Weeks and chart
days are calendar days in the digest's timezone, daylight-saving changes included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, false, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from byok.db import tables
from byok.db.columns import from_nanos
from byok.db.engine import Database
from byok.types import UserRef
from byok.usage import UNPRICED_UNCOUNTED, UsageLine, month_bounds

__all__ = [
    "DailyCost",
    "DigestWindow",
    "FailureCount",
    "KeySpend",
    "ProviderWeek",
    "UserDigestData",
    "load_daily_costs",
    "load_digest_data",
    "utc_offsets",
]

# Core columns, not ORM attributes: ORM row loading would cost ~2 µs a row for nothing.
_E = tables.UsageEvent.__table__.c
_U = tables.User.__table__.c
_P = tables.UserAIPreferences.__table__.c
_K = tables.UserApiKey.__table__.c
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_IN_CHUNK = 1_000  # ids per IN list: well under SQLite's and asyncpg's parameter limits


@dataclass(frozen=True, slots=True)
class DigestWindow:
    """The digest's week (``period_start`` is its first local day) and what surrounds it."""

    period_start: date
    timezone: ZoneInfo
    chart_weeks: int
    as_of: datetime  # month-to-date spend is measured as of this moment

    def midnight(self, day: date) -> datetime:
        """Local midnight starting ``day``, in UTC."""
        return datetime.combine(day, time(), tzinfo=self.timezone).astimezone(UTC)

    @property
    def period_end(self) -> date:
        return self.period_start + timedelta(days=7)

    @property
    def start(self) -> datetime:
        return self.midnight(self.period_start)

    @property
    def end(self) -> datetime:
        return self.midnight(self.period_end)

    @property
    def previous_start(self) -> datetime:
        return self.midnight(self.period_start - timedelta(days=7))

    @property
    def chart_days(self) -> tuple[date, ...]:
        first = self.period_end - timedelta(days=7 * self.chart_weeks)
        return tuple(first + timedelta(days=n) for n in range(7 * self.chart_weeks))

    @property
    def chart_start(self) -> datetime:
        return self.midnight(self.chart_days[0])

    @property
    def month(self) -> tuple[datetime, datetime]:
        """The calendar month (UTC) limits are enforced on, as of ``as_of``."""
        return month_bounds(self.as_of)


@dataclass(frozen=True, slots=True)
class ProviderWeek:
    """One user's totals at one provider over a week (the week before the digest's)."""

    provider_id: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    unpriced: int


@dataclass(frozen=True, slots=True)
class FailureCount:
    provider_id: str
    kind: str  # the error kind (rate_limited, unavailable, ...) or "cancelled"
    count: int


@dataclass(frozen=True, slots=True)
class KeySpend:
    """Month-to-date spend on one of the user's own keys, and its monthly limit if set.

    ``unpriced`` counts the month's successful requests whose price is unknown and that
    hold no reservation: ``spent`` leaves them out, so they are named beside it.
    """

    provider_id: str
    spent: Decimal
    limit: Decimal | None
    unpriced: int = 0


@dataclass(frozen=True, slots=True)
class DailyCost:
    day: date
    provider_id: str
    cost: Decimal
    unpriced: int


@dataclass(slots=True)
class UserDigestData:
    """Everything one user's digest shows; ``daily`` is filled from :func:`load_daily_costs`."""

    user_ref: int
    user: UserRef
    digest_when_empty: bool
    week: list[UsageLine] = field(default_factory=list)
    previous: list[ProviderWeek] = field(default_factory=list)
    failures: list[FailureCount] = field(default_factory=list)
    keys: list[KeySpend] = field(default_factory=list)
    daily: list[DailyCost] = field(default_factory=list)

    @property
    def has_usage(self) -> bool:
        return bool(self.week)


def utc_offsets(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset in seconds over [start, end), as (from, offset) segments.

    Found by sampling every hour and bisecting each change to the second.
    """

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [(start, offset(start))]
    probe = start
    while probe < end:
        step = min(probe + timedelta(hours=1), end)
        if offset(step) != segments[-1][1]:
            low, high = probe, step
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == segments[-1][1] else (low, middle)
            segments.append((high.replace(microsecond=0), offset(high)))
        probe = step
    return segments


_FINISHED = _E.outcome != "pending"
_FALLBACK = case((_E.is_fallback, 1), else_=0)
_UNPRICED = case((and_(_E.outcome == "success", _E.cost.is_(None)), 1), else_=0)
_KIND = case(
    (_E.outcome == "success", ""),
    (_E.outcome == "cancelled", "cancelled"),
    else_=func.coalesce(_E.error_kind, "error"),
)


def _nanos(expr: Any) -> Any:
    """A SUM of nano-dollar BIGINTs as a plain integer (PostgreSQL would send NUMERIC)."""
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)


def _in_range(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(_E.created_at >= start, _E.created_at < end)


def _only(column: Any, users: list[int] | None) -> ColumnElement[bool]:
    return column.in_(users) if users is not None else true()


def _chunks(ids: Collection[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _IN_CHUNK):
        yield ordered[start : start + _IN_CHUNK]


@asynccontextmanager
async def _session(database: Database) -> AsyncIterator[AsyncSession]:
    async with database.session() as session:
        if database.dialect == "postgresql":
            # The default 4 MB makes the hash aggregates over a busy week spill to disk.
            await session.execute(text("SET LOCAL work_mem = '64MB'"))
        yield session


async def load_digest_data(
    database: Database, window: DigestWindow, *, users: Collection[int] | None = None
) -> dict[int, UserDigestData]:
    """Digest numbers of every user who should get one for ``window``, by user row id.

    A user gets a digest unless they turned it off, and only for a week with requests
    unless they asked for empty ones. ``users`` restricts it to those user row ids.
    """
    found: dict[int, UserDigestData] = {}
    for chunk in [None] if users is None else _chunks(users):
        # The queries run side by side, each on its own connection: the database works
        # on one while Python folds the rows of another.
        wanted, (week, failures), previous, keys = await asyncio.gather(
            _wanted(database, chunk),
            _week(database, window, chunk),
            _previous(database, window, chunk),
            _keys(database, window, chunk),
        )
        for ref, data in wanted.items():
            data.week = week.get(ref, [])
            if data.week or data.digest_when_empty:
                data.failures = failures.get(ref, [])
                data.previous = previous.get(ref, [])
                data.keys = keys.get(ref, [])
                found[ref] = data
    return found


async def _wanted(database: Database, users: list[int] | None) -> dict[int, UserDigestData]:
    """Users who have not turned the digest off (no preferences row: the defaults)."""
    joined = tables.User.__table__.outerjoin(
        tables.UserAIPreferences.__table__, _P.user_ref == _U.id
    )
    async with _session(database) as session:
        rows = await session.execute(
            select(_U.id, _U.platform, _U.workspace_id, _U.user_id,
                   func.coalesce(_P.digest_when_empty, false()))
            .select_from(joined)
            .where(func.coalesce(_P.weekly_digest, true()), _only(_U.id, users))
        )  # fmt: skip
        return {
            ref: UserDigestData(ref, UserRef(platform, workspace, user), bool(empty))
            for ref, platform, workspace, user, empty in rows.all()
        }


async def _week(
    database: Database, window: DigestWindow, users: list[int] | None
) -> tuple[dict[int, list[UsageLine]], dict[int, list[FailureCount]]]:
    """The week by provider and model; the same pass splits failures by kind."""
    async with _session(database) as session:
        rows = await session.execute(
            select(_E.user_ref, _E.provider, _E.model, _KIND, func.count(), func.sum(_FALLBACK),
                   func.sum(_E.input_tokens), func.sum(_E.output_tokens), _nanos(_E.cost),
                   func.sum(_UNPRICED))
            .where(_in_range(window.start, window.end), _FINISHED, _only(_E.user_ref, users))
            .group_by(_E.user_ref, _E.provider, _E.model, _KIND)
            .order_by(_E.user_ref, _E.provider, _E.model)
        )  # fmt: skip
        found = rows.all()
    # [requests, failures, fallbacks, tokens in, tokens out, nano-dollars, unpriced]; this
    # loop sees ~100k rows for 10k users, so it stays plain.
    sums: dict[tuple[int, str, str], list[int]] = {}
    failed: dict[tuple[int, str, str], int] = {}
    for ref, provider, model, kind, count, fallbacks, tin, tout, nanos, unpriced in found:
        total = sums.get((ref, provider, model))
        if total is None:
            total = sums[ref, provider, model] = [0] * 7
        total[0] += count
        total[2] += fallbacks
        total[3] += tin
        total[4] += tout
        total[5] += nanos
        total[6] += unpriced
        if kind:  # failed requests are grouped apart, by kind
            total[1] += count
            failed[ref, provider, kind] = failed.get((ref, provider, kind), 0) + count
    lines: dict[int, list[UsageLine]] = {}
    for (ref, provider, model), (count, fails, falls, tin, tout, nanos, unpriced) in sums.items():
        lines.setdefault(ref, []).append(UsageLine(provider, model, int(count), int(fails),
            int(falls), int(tin), int(tout), from_nanos(nanos), int(unpriced)))  # fmt: skip
    failures: dict[int, list[FailureCount]] = {}
    for (ref, provider, kind), count in sorted(failed.items()):
        failures.setdefault(ref, []).append(FailureCount(provider, kind, int(count)))
    return lines, failures


async def _previous(
    database: Database, window: DigestWindow, users: list[int] | None
) -> dict[int, list[ProviderWeek]]:
    async with _session(database) as session:
        rows = await session.execute(
            select(_E.user_ref, _E.provider, func.count(), func.sum(_E.input_tokens),
                   func.sum(_E.output_tokens), _nanos(_E.cost), func.sum(_UNPRICED))
            .where(_in_range(window.previous_start, window.start), _FINISHED,
                   _only(_E.user_ref, users))
            .group_by(_E.user_ref, _E.provider)
            .order_by(_E.user_ref, _E.provider)
        )  # fmt: skip
        found: dict[int, list[ProviderWeek]] = {}
        for ref, provider, count, tin, tout, nanos, unpriced in rows.all():
            found.setdefault(ref, []).append(ProviderWeek(
                provider, int(count), int(tin), int(tout), from_nanos(int(nanos)), int(unpriced)
            ))  # fmt: skip
        return found


async def _keys(
    database: Database, window: DigestWindow, users: list[int] | None
) -> dict[int, list[KeySpend]]:
    month_start, month_end = window.month
    spend = (
        select(_E.user_ref, _E.provider,
               func.sum(func.coalesce(_E.cost, _E.reserved_cost)).label("spent"),
               func.sum(UNPRICED_UNCOUNTED).label("unpriced"))
        .where(_E.key_source == "user", _in_range(month_start, month_end), _only(_E.user_ref, users))
        .group_by(_E.user_ref, _E.provider)
        .subquery()
    )  # fmt: skip
    async with _session(database) as session:
        rows = await session.execute(
            select(_K.user_ref, _K.provider, _K.monthly_limit,
                   cast(func.coalesce(spend.c.spent, 0), BigInteger),
                   func.coalesce(spend.c.unpriced, 0))
            .outerjoin(spend, and_(spend.c.user_ref == _K.user_ref,
                                   spend.c.provider == _K.provider))
            .where(_K.is_active, _only(_K.user_ref, users))
            .order_by(_K.user_ref, _K.provider)
        )  # fmt: skip
        found: dict[int, list[KeySpend]] = {}
        for ref, provider, limit, nanos, unpriced in rows.all():
            found.setdefault(ref, []).append(
                KeySpend(provider, from_nanos(int(nanos)), limit, int(unpriced))
            )
        return found


def _epoch_seconds(dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        # EXTRACT gives fractional seconds; a plain cast would round 23:59:59.6 up a day.
        return cast(func.floor(func.extract("epoch", _E.created_at)), BigInteger)
    # SQLite keeps UTC timestamps as ISO text; strftime('%s') reads them as UTC, truncated.
    return cast(func.strftime("%s", _E.created_at), BigInteger)


def _local_day(dialect: str, tz: ZoneInfo, start: datetime, end: datetime) -> Any:
    """Days since 1970-01-01 in local time: (epoch + UTC offset at that instant) // 86400."""
    segments = utc_offsets(tz, start, end)
    offset: Any = segments[0][1]
    if len(segments) > 1:
        offset = case(
            *[(_E.created_at < since, value) for (_, value), (since, _) in pairwise(segments)],
            else_=segments[-1][1],
        )
    return (_epoch_seconds(dialect) + offset) // 86_400


async def load_daily_costs(
    database: Database, window: DigestWindow, users: Collection[int]
) -> dict[int, list[DailyCost]]:
    """Daily cost by provider over the chart's weeks, for these user row ids."""
    found: dict[int, list[DailyCost]] = {}
    day = _local_day(database.dialect, window.timezone, window.chart_start, window.end)
    async with _session(database) as session:
        for chunk in _chunks(users):
            # The day is computed in a subquery: its bound parameters would otherwise be
            # rendered twice (SELECT and GROUP BY) and PostgreSQL would not match them.
            inner = (
                select(_E.user_ref, _E.provider, day.label("day"), _E.cost,
                       _UNPRICED.label("unpriced"))
                .where(_in_range(window.chart_start, window.end), _FINISHED,
                       _only(_E.user_ref, chunk))
                .subquery()
            )  # fmt: skip
            c = inner.c
            rows = await session.execute(
                select(c.user_ref, c.provider, c.day, _nanos(c.cost), func.sum(c.unpriced))
                .group_by(c.user_ref, c.provider, c.day)
                .order_by(c.user_ref, c.day, c.provider)
            )
            for ref, provider, day_number, nanos, unpriced in rows.all():
                local = date.fromordinal(_EPOCH_ORDINAL + int(day_number))
                found.setdefault(ref, []).append(
                    DailyCost(local, provider, from_nanos(int(nanos)), int(unpriced))
                )
    return found
