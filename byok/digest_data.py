"""Usage aggregates for the weekly digest: one week, every user, grouped in SQL.

:func:`load_digest_data` returns, for every user who should get a digest: the week
by provider and model (with failures and fallbacks), failures by kind, the week before
by provider, month-to-date spend per key against its monthly limit, and the chart's
daily cost by provider. Every number comes from a GROUP BY; usage rows never reach
Python, and Python receives one row per group it keeps, never one per usage row:

- the week: one row per (user, provider, model), and per (user, provider, failure kind);
- the week before: one row per (user, provider);
- the chart's weeks and the month in one pass: one row per (user, provider) carrying
  its month-to-date sums and its chart series, which the database writes as compact
  text (``day:nanos:unpriced,...``). Grouping by day is most of that pass's cost, so
  it carries only what the chart and the month need; the week before is summed apart.

Each user's lines and points are made into objects on first use (:class:`Deferred`):
a run reads one user's digest at a time, as it draws and sends it.

Numbers follow :class:`byok.usage.UsageLedger`: a request is a finished attempt;
``cost`` sums known prices and requests whose price is unknown are counted apart,
never as $0; month-to-date spend counts a row's cost, else its reservation, exactly
as limits are enforced (UTC calendar month, the user's own key). Weeks and chart
days are calendar days in the digest's timezone, daylight-saving changes included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection

from byok.db import tables
from byok.db.columns import UTCDateTime, from_nanos
from byok.db.database import Database
from byok.types import UserRef
from byok.usage import UsageLine, month_bounds
from byok.usage_terms import (
    CACHED,
    FAILED,
    FALLBACK,
    FINISHED,
    SAVED,
    SAVED_UNKNOWN,
    SPEND,
    UNPRICED,
    UNPRICED_UNCOUNTED,
)

__all__ = [
    "DailyCost",
    "Deferred",
    "DigestWindow",
    "FailureCount",
    "KeySpend",
    "ProviderWeek",
    "UserDigestData",
    "load_daily_costs",
    "load_digest_data",
]

# Core columns, not ORM attributes: ORM row loading would cost ~2 µs a row for nothing.
_E = tables.UsageEvent.__table__.c
_U = tables.User.__table__.c
_P = tables.UserAIPreferences.__table__.c
_K = tables.UserApiKey.__table__.c
_IN_CHUNK = 1_000  # ids per IN list: well under SQLite's and asyncpg's parameter limits
T = TypeVar("T")
R = TypeVar("R")


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


class Deferred(Sequence[T]):
    """A list built from what the database sent on first use (``build(raw)``), not before.

    A run loads every user's numbers at once but reads one user's at a time, as each
    digest is drawn and sent; their objects are made then. Empty exactly when ``raw`` is.
    """

    __slots__ = ("_build", "_items", "_raw")

    def __init__(self, raw: Sequence[R], build: Callable[[Sequence[R]], list[T]]) -> None:
        self._raw: Sequence[Any] = raw
        self._build: Callable[[Sequence[Any]], list[T]] | None = build
        self._items: list[T] = []

    def _built(self) -> list[T]:
        if self._build is not None:
            self._items, self._build, self._raw = self._build(self._raw), None, ()
        return self._items

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._built()[index]

    def __len__(self) -> int:
        return len(self._built())

    def __bool__(self) -> bool:
        return bool(self._raw) if self._build is not None else bool(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Deferred | list | tuple):
            return self._built() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._built())


def _points(days: Sequence[date]) -> Callable[[Sequence[Any]], list[DailyCost]]:
    """Chart points from _by_provider's rows: ``series`` holds ``day:nanos:unpriced``
    items, day an index into ``days``; by day, then provider."""

    def build(rows: Sequence[Any]) -> list[DailyCost]:
        points = []
        for row in rows:
            provider = row.provider
            for item in row.series.split(","):
                day, nanos, unpriced = item.split(":")
                points.append(
                    DailyCost(days[int(day)], provider, from_nanos(int(nanos)), int(unpriced))
                )
        points.sort(key=lambda point: (point.day, point.provider_id))
        return points

    return build


def _lines(rows: Sequence[Any]) -> list[UsageLine]:
    """Week lines from _week's rows."""
    return [
        UsageLine(provider, model, requests, failures, fallbacks, tokens_in, tokens_out,
                  from_nanos(nanos), unpriced, cached=cached, saved=from_nanos(saved),
                  saved_unknown=saved_unknown)
        for _, provider, model, requests, failures, fallbacks, tokens_in, tokens_out, nanos,
        unpriced, cached, saved, saved_unknown in rows
    ]  # fmt: skip


def _failure_counts(rows: Sequence[Any]) -> list[FailureCount]:
    """Failures by provider and kind from _failures' rows, in that order."""
    return [FailureCount(provider, kind, count) for _, provider, kind, count in sorted(rows)]


def _previous(rows: Sequence[Any]) -> list[ProviderWeek]:
    """The week before by provider, from _by_provider's rows."""
    return [
        ProviderWeek(row.provider, row.requests, row.input_tokens, row.output_tokens,
                     from_nanos(row.nanos), row.unpriced)
        for row in rows
    ]  # fmt: skip


def _key_spends(providers: Sequence[Any], keys: Sequence[Any]) -> list[KeySpend]:
    """Month-to-date spend of each key (from _keys' rows) out of _by_provider's rows."""
    spend = {row.provider: row for row in providers}
    found = []
    for _, provider, limit in keys:
        row = spend.get(provider)
        found.append(KeySpend(provider, from_nanos(row.spent if row else 0), limit,
                              row.uncounted if row else 0))  # fmt: skip
    return found


@dataclass(slots=True)
class UserDigestData:
    """Everything one user's digest shows."""

    user_ref: int
    user: UserRef
    digest_when_empty: bool
    week: Sequence[UsageLine] = field(default_factory=list)
    previous: list[ProviderWeek] = field(default_factory=list)
    failures: list[FailureCount] = field(default_factory=list)
    keys: list[KeySpend] = field(default_factory=list)
    daily: Sequence[DailyCost] = ()

    @property
    def has_usage(self) -> bool:
        return bool(self.week)


_KIND = case(
    (_E.outcome == "cancelled", "cancelled"),
    else_=func.coalesce(_E.error_kind, "error"),
)


def _int_sum(expr: Any) -> Any:
    """A SUM of integers (nano-dollars, tokens) as a plain integer, 0 for none (PostgreSQL
    would send a BIGINT column's sum as NUMERIC, which is slow to decode)."""
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
async def _session(database: Database) -> AsyncIterator[AsyncConnection]:
    # On a SQLite file these are its read-only connections, each in its own thread: the
    # queries run side by side (as on PostgreSQL) and never hold up the one writer.
    async with database.reading(bulk=True) as connection:
        if database.dialect == "postgresql":
            # The default 4 MB makes the aggregates over a busy month spill to disk.
            await connection.execute(text("SET LOCAL work_mem = '64MB'"))
        yield connection


async def load_digest_data(
    database: Database, window: DigestWindow, *, users: Collection[int] | None = None
) -> dict[int, UserDigestData]:
    """Digest numbers and chart data of every user who should get one for ``window``.

    By user row id. A user gets a digest unless they turned it off, and only for a week
    with requests unless they asked for empty ones. ``users`` restricts it to those ids.
    """
    found: dict[int, UserDigestData] = {}
    points = _points(window.chart_days)
    for chunk in [None] if users is None else _chunks(users):
        # Each query has its own connection: they run side by side (on a SQLite file, two
        # at a time on its read-only connections; in-memory SQLite takes them in turn).
        # The longest first, so that the others take turns beside it.
        sums, wanted, week, previous, failures, keys = await asyncio.gather(
            _by_provider(database, window, chunk),
            _wanted(database, chunk),
            _week(database, window, chunk),
            _previous_week(database, window, chunk),
            _failures(database, window, chunk),
            _keys(database, chunk),
        )
        for ref, data in wanted.items():
            lines = week.get(ref, [])
            if not (lines or data.digest_when_empty):
                continue
            providers = sums.get(ref, [])
            data.week = Deferred(lines, _lines)
            data.failures = Deferred(failures.get(ref, []), _failure_counts)
            data.previous = Deferred(previous.get(ref, []), _previous)
            data.keys = Deferred(keys.get(ref, []), partial(_key_spends, providers))
            data.daily = Deferred([row for row in providers if row.series], points)
            found[ref] = data
    return found


async def load_daily_costs(
    database: Database, window: DigestWindow, users: Collection[int]
) -> dict[int, list[DailyCost]]:
    """Daily cost by provider over the chart's weeks, for these user row ids (users
    without a finished request in those weeks are left out)."""
    found: dict[int, list[DailyCost]] = {}
    for chunk in _chunks(users):
        for ref, providers in (await _by_provider(database, window, chunk)).items():
            series = [row for row in providers if row.series]
            if series:
                found[ref] = _points(window.chart_days)(series)
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
) -> dict[int, list[Any]]:
    """The week by provider and model: each row is one line of the digest (see _lines),
    with its cached answers and what they saved (known savings summed, unknown counted)."""
    async with _session(database) as session:
        rows = await session.execute(
            select(_E.user_ref, _E.provider, _E.model, func.count(), _int_sum(FAILED),
                   _int_sum(FALLBACK), _int_sum(_E.input_tokens), _int_sum(_E.output_tokens),
                   _int_sum(_E.cost), _int_sum(UNPRICED), _int_sum(CACHED), _int_sum(SAVED),
                   _int_sum(SAVED_UNKNOWN))
            .where(_in_range(window.start, window.end), FINISHED, _only(_E.user_ref, users))
            .group_by(_E.user_ref, _E.provider, _E.model)
            .order_by(_E.user_ref, _E.provider, _E.model)
        )  # fmt: skip
        return _by_user(rows)


async def _previous_week(
    database: Database, window: DigestWindow, users: list[int] | None
) -> dict[int, list[Any]]:
    """The week before by provider (see _previous)."""
    async with _session(database) as session:
        rows = await session.execute(
            select(_E.user_ref, _E.provider, func.count().label("requests"),
                   _int_sum(_E.input_tokens).label("input_tokens"),
                   _int_sum(_E.output_tokens).label("output_tokens"),
                   _int_sum(_E.cost).label("nanos"), _int_sum(UNPRICED).label("unpriced"))
            .where(_in_range(window.previous_start, window.start), FINISHED,
                   _only(_E.user_ref, users))
            .group_by(_E.user_ref, _E.provider)
            .order_by(_E.user_ref, _E.provider)
        )  # fmt: skip
        return _by_user(rows)


async def _failures(
    database: Database, window: DigestWindow, users: list[int] | None
) -> dict[int, list[Any]]:
    """The week's failed requests by provider and kind (see _failure_counts)."""
    async with _session(database) as session:
        rows = await session.execute(
            select(_E.user_ref, _E.provider, _KIND.label("kind"), func.count())
            .where(_in_range(window.start, window.end), FINISHED, FAILED == 1,
                   _only(_E.user_ref, users))
            .group_by(_E.user_ref, _E.provider, _KIND)
        )  # fmt: skip
        return _by_user(rows)


def _by_user(result: Result[Any]) -> dict[int, list[Any]]:
    """Rows whose first column is the user row id, by it."""
    found: dict[int, list[Any]] = {}
    for row in result.all():  # at once: row by row, the result's machinery costs ~3 µs a row
        found.setdefault(row[0], []).append(row)
    return found


def _day_index(database: Database, window: DigestWindow) -> Any:
    """For a row within the chart's days: the index of its local day there, which is the
    number of local midnights at or before the row (exact, whatever the UTC offsets)."""
    midnights = [window.midnight(day) for day in window.chart_days[1:]]
    if database.dialect == "postgresql":
        return func.width_bucket(
            _E.created_at, postgresql.array([literal(at, UTCDateTime()) for at in midnights])
        )

    # SQLite: a binary search over the midnights, as nested CASEs. Its timestamps are ISO
    # text that compares as time does; converting each row's to seconds costs more.
    def search(low: int, high: int) -> Any:
        if low == high:
            return literal(low)
        middle = (low + high + 1) // 2
        return case(
            (_E.created_at < midnights[middle - 1], search(low, middle - 1)),
            else_=search(middle, high),
        )

    return search(0, len(midnights))


async def _by_provider(
    database: Database, window: DigestWindow, users: list[int] | None
) -> dict[int, list[Any]]:
    """One pass over the chart's weeks and the month: per user and provider, month-to-date
    spend on the user's key and the chart's series (see _key_spends and _points)."""
    month_start, month_end = window.month
    chart_start = window.chart_start
    in_days = and_(FINISHED, _in_range(chart_start, window.end))
    in_month = and_(_E.key_source == "user", _in_range(month_start, month_end))
    # Rows: each finished request of the chart's days with its day; other rows only count
    # towards the month (day NULL, so no point: NULL text is left out of the series). Bound parameters stay in this innermost query:
    # PostgreSQL would not match them as the same GROUP BY expression.
    rows = (
        select(_E.user_ref, _E.provider, case((in_days, _day_index(database, window))).label("day"),
               _E.cost, UNPRICED.label("unpriced"),
               case((in_month, SPEND)).label("spent"),
               case((in_month, UNPRICED_UNCOUNTED), else_=0).label("uncounted"))
        .where(_in_range(min(chart_start, month_start), max(window.end, month_end)),
               _only(_E.user_ref, users))
        .offset(0)  # not merged into the GROUP BY: SQLite then sorts these small rows
        .subquery()
    )  # fmt: skip
    r = rows.c
    by_day = (
        select(r.user_ref, r.provider, r.day,
               _int_sum(r.cost).label("nanos"), func.sum(r.unpriced).label("unpriced"),
               _int_sum(r.spent).label("spent"), func.sum(r.uncounted).label("uncounted"))
        .group_by(r.user_ref, r.provider, r.day)
        .subquery()
    )  # fmt: skip
    d = by_day.c
    point = cast(d.day, String) + ":" + cast(d.nanos, String) + ":" + cast(d.unpriced, String)
    async with _session(database) as session:
        found = await session.execute(
            select(d.user_ref, d.provider,
                   _int_sum(d.spent).label("spent"), _int_sum(d.uncounted).label("uncounted"),
                   func.aggregate_strings(point, ",").label("series"))
            .group_by(d.user_ref, d.provider)
            .order_by(d.user_ref, d.provider)  # the database's order, as the week's lines
        )  # fmt: skip
        return _by_user(found)


async def _keys(database: Database, users: list[int] | None) -> dict[int, list[Any]]:
    """The user's active keys with their monthly limits, by provider (see _key_spends)."""
    async with _session(database) as session:
        rows = await session.execute(
            select(_K.user_ref, _K.provider, _K.monthly_limit)
            .where(_K.is_active, _only(_K.user_ref, users))
            .order_by(_K.user_ref, _K.provider)
        )
        return _by_user(rows)
