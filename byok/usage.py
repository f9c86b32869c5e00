"""The usage ledger: one row per attempt, month-to-date spend, and usage reports.

An attempt's row is written *before* the provider is called (``pending``; under a
limit it holds its worst-case cost as a reservation) and finished afterwards, so
concurrent requests see each other against a monthly limit, and a cancelled caller
or a crashed process still leaves exactly one row. Without a limit the pending rows
and the finishes of many requests share a commit (group commit). A row the database
refuses is written in a form it takes, never dropped with its batch. Spend counts a
row's real cost, or its reservation while the real cost is not known. Aggregation
happens in SQL.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    String,
    bindparam,
    case,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from byok.clock import Clock, utc_now
from byok.db.columns import Money, to_nanos
from byok.db.database import Database
from byok.db.tables import UsageEvent, User
from byok.db.writer import BatchWriter, QueuedRow, Row, Statement
from byok.errors import DatabaseUnavailableError, StorageError
from byok.types import Usage
from byok.usage_terms import (
    CACHED,
    FAILED,
    FALLBACK,
    FINISHED,
    HELD,
    SAVED,
    SAVED_UNKNOWN,
    SPEND,
    UNPRICED,
    UNPRICED_UNCOUNTED,
)

__all__ = [
    "KeySource",
    "Outcome",
    "ProviderSpend",
    "SpendKey",
    "UsageLedger",
    "UsageLine",
    "UsageReport",
    "month_bounds",
    "week_bounds",
]

KeySource = Literal["user", "operator"]
Outcome = Literal["success", "error", "cancelled", "cached"]


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) containing ``now``: [start, end)."""
    now = now.astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def week_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The ISO week (Monday 00:00 UTC) containing ``now``: [start, end)."""
    now = now.astimezone(UTC)
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=7)


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Usage of one provider and model over a period."""

    provider_id: str
    model: str
    requests: int
    failures: int
    fallbacks: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    unpriced: int  # successful requests whose price is unknown
    # Interrupted requests the provider may have billed without reporting: their
    # worst-case reservation still counts against the monthly limit.
    held: Decimal = Decimal(0)
    held_requests: int = 0
    # Distinct questions (request ids) among ``requests``: attempts at several providers
    # for one question (fallback) share its id.
    questions: int = 0
    # Questions answered from the response cache (among ``requests``; no provider was
    # called), what their original answers cost, and how many of those costs are unknown.
    cached: int = 0
    saved: Decimal = Decimal(0)
    saved_unknown: int = 0

    @property
    def successes(self) -> int:
        return self.requests - self.failures


@dataclass(frozen=True, slots=True)
class ProviderSpend:
    """A provider's month to date: what counts against its limit, and the answers of
    unknown cost that sum leaves out."""

    spent: Decimal
    unpriced: int = 0


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage over a period. ``requests`` counts attempts at providers; ``questions`` counts
    what users asked, each once even when it reached several providers (so it is not the
    sum of the lines' ``questions``; 0 when the report was built from lines alone)."""

    start: datetime
    end: datetime
    lines: tuple[UsageLine, ...]
    questions: int = 0

    @property
    def requests(self) -> int:
        return sum(line.requests for line in self.lines)

    @property
    def cost(self) -> Decimal:
        return sum((line.cost for line in self.lines), Decimal(0))

    @property
    def unpriced(self) -> int:
        return sum(line.unpriced for line in self.lines)

    @property
    def cached(self) -> int:
        """Questions answered from the response cache."""
        return sum(line.cached for line in self.lines)

    @property
    def saved(self) -> Decimal:
        """What the cached answers would have cost again (known savings only)."""
        return sum((line.saved for line in self.lines), Decimal(0))

    @property
    def saved_unknown(self) -> int:
        """Cached answers whose saving is unknown (left out of :attr:`saved`)."""
        return sum(line.saved_unknown for line in self.lines)

    def by_provider(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.provider_id] = totals.get(line.provider_id, Decimal(0)) + line.cost
        return totals


@dataclass(frozen=True, slots=True)
class SpendKey:
    """What one monthly limit counts: a user's spend at one provider with one kind of key,
    in one calendar month."""

    user_ref: int
    provider_id: str
    key_source: KeySource
    month: datetime  # its first instant, UTC

    @classmethod
    def at(cls, now: datetime, user_ref: int, provider_id: str, key_source: KeySource) -> SpendKey:
        return cls(user_ref, provider_id, key_source, month_bounds(now)[0])


@dataclass(slots=True)
class _Unsettled:
    """A finish queued by this process, not yet sent to the database: until it is, the
    database counts the row's reservation, and the finish changes that by ``change``."""

    finish: QueuedRow
    change: Decimal


# Older pending rows belong to a process that died mid-request (requests time out long before).
ABANDONED_AFTER = timedelta(hours=1)

_FINISH_FIELDS = (
    "outcome", "error_kind", "input_tokens", "output_tokens", "cached_input_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost", "latency_ms", "finished_at", "model",
    "reserved_cost",
)  # fmt: skip
_TOKEN_FIELDS = (
    "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens",
)  # fmt: skip

# What the database takes, to salvage a row it refused (see _salvaged).
_MAX_LENGTH = {
    column.name: column.type.length
    for column in UsageEvent.__table__.columns
    if isinstance(column.type, String) and column.type.length
}
_MAX_INT64 = 2**63 - 1
_MAX_INT32 = 2**31 - 1
_UNRECORDABLE = "unrecordable"


class UsageLedger:
    def __init__(self, database: Database, clock: Clock = utc_now) -> None:
        self._db = database
        self._clock = clock
        self._writer = BatchWriter(database)
        self._unsettled: dict[SpendKey, list[_Unsettled]] = {}
        self._limit_checks = _LimitChecks(
            insert(UsageEvent),
            salvage=_salvaged_check,
            describe=lambda row: _describe(row["pending"]),
            reads_first=True,
            unsent_change=self._unsent_change,
        )

    async def reserve(
        self,
        *,
        key: SpendKey,
        request_id: str,
        model: str,
        request_kind: str,
        is_fallback: bool,
        worst: Decimal,
        limit: Decimal,
    ) -> tuple[int | None, Decimal]:
        """Check ``key``'s limit with ``worst`` and write the pending row holding it.

        Group-committed like the other usage writes, in a transaction that locks what
        every process locks to check a limit (the users' rows on PostgreSQL, the write
        lock on SQLite), so concurrent checks see each other's rows. Returns the new
        row's id, or None when ``worst`` does not fit, and the month's spend before this
        attempt. Finishes this process has queued but not yet sent count at their real
        cost, not at the reservation the database still holds. If the database is
        unavailable nothing is written and this raises :class:`DatabaseUnavailableError`.
        """
        now = self._clock()
        pending = {
            **_attempt(
                key.user_ref, request_id, key.provider_id, key.key_source, request_kind,
                is_fallback, now,
            ),
            **_finish_values(now, outcome="pending", model=model, reserved_cost=worst),
            "finished_at": None,
        }  # fmt: skip
        row = {"key": key, "worst": worst, "limit": limit, "pending": pending}
        written = self._writer.write(self._limit_checks, row, keep_on_outage=False)
        try:
            attempt_id, spent = await asyncio.shield(written)
        except asyncio.CancelledError:
            # Cancelled before the call: if the row is committed all the same, close it.
            written.add_done_callback(functools.partial(self._close_unstarted, pending))
            raise
        return attempt_id, spent

    def _unsent_change(self, key: SpendKey) -> Decimal:
        waiting = [item for item in self._unsettled.get(key, ()) if not item.finish.sent]
        if waiting:
            self._unsettled[key] = waiting
        else:
            self._unsettled.pop(key, None)
        return sum((item.change for item in waiting), Decimal(0))

    def _remember_unsettled(self, key: SpendKey, finish: QueuedRow, change: Decimal) -> None:
        if len(self._unsettled) >= _MAX_UNSETTLED_KEYS:
            for stale in [k for k, items in self._unsettled.items() if items[-1].finish.sent]:
                del self._unsettled[stale]
        self._unsettled.setdefault(key, []).append(_Unsettled(finish, change))

    async def begin_grouped(
        self,
        *,
        user_ref: int,
        request_id: str,
        provider_id: str,
        model: str,
        key_source: KeySource,
        request_kind: str,
        is_fallback: bool,
    ) -> int:
        """Write the pending row of an attempt with nothing to reserve; its id once committed.

        The row exists before the provider is called, so a crash (kill -9, out of memory)
        still leaves it for :meth:`close_abandoned`. Concurrent callers share one commit.
        If the database is unavailable nothing is written and this raises
        :class:`DatabaseUnavailableError`.
        """
        now = self._clock()
        row = {
            **_attempt(
                user_ref, request_id, provider_id, key_source, request_kind, is_fallback, now
            ),
            **_finish_values(now, outcome="pending", model=model),
            "finished_at": None,
        }
        written = self._writer.write(_BEGIN, row, keep_on_outage=False)
        try:
            return int(await asyncio.shield(written))
        except asyncio.CancelledError:
            # Cancelled before the call: if the row is committed all the same, close it.
            written.add_done_callback(functools.partial(self._close_unstarted, row))
            raise

    def _close_unstarted(self, row: Row, written: asyncio.Future[Any]) -> None:
        if written.cancelled() or written.exception() is not None:
            return
        result = written.result()
        attempt_id = result[0] if isinstance(result, tuple) else result
        if attempt_id is None:
            return  # refused by its limit: nothing was written
        values = _finish_values(
            self._clock(), outcome="cancelled", model=row["model"], error_kind="cancelled"
        )
        self._writer.submit(_FINISH, _finish_row(attempt_id, row["request_id"], values))

    def record(
        self,
        *,
        user_ref: int,
        request_id: str,
        provider_id: str,
        model: str,
        key_source: KeySource,
        request_kind: str,
        is_fallback: bool,
        created_at: datetime,
        outcome: Outcome,
        usage: Usage | None = None,
        cost: Decimal | None = None,
        latency_ms: int | None = None,
        error_kind: str | None = None,
        reserved_cost: Decimal | None = None,
        saved_cost: Decimal | None = None,
    ) -> None:
        """Queue an attempt that has ended, written in one insert (no pending row first).

        A ``cached`` row (a question answered from the response cache) is written here:
        ``saved_cost`` is what the answer cost when it was first asked.

        Rows are written in batches, one transaction for all that arrived meanwhile
        (group commit). Reads of this ledger flush first; :meth:`flush` waits for the
        writes.
        """
        self._writer.submit(
            _RECORD,
            {
                **_attempt(
                    user_ref,
                    request_id,
                    provider_id,
                    key_source,
                    request_kind,
                    is_fallback,
                    created_at,
                ),
                **_finish_values(
                    self._clock(),
                    outcome=outcome,
                    model=model,
                    usage=usage,
                    cost=cost,
                    latency_ms=latency_ms,
                    error_kind=error_kind,
                    reserved_cost=reserved_cost,
                ),
                # Every recorded row has the key: a batch's rows share one statement.
                "saved_cost": saved_cost,
            },
        )

    @property
    def queued(self) -> int:
        """Rows (and finishes of rows) not written yet."""
        return self._writer.queued

    def abandon(self) -> int:
        """Stop trying to write the queued rows (shutting down with no database)."""
        return self._writer.abandon()

    async def flush(self) -> None:
        """Wait until every queued row is written."""
        await self._writer.flush()

    async def finish(
        self,
        attempt_id: int,
        *,
        outcome: Outcome,
        model: str,
        reserved_cost: Decimal | None,
        usage: Usage | None = None,
        cost: Decimal | None = None,
        latency_ms: int | None = None,
        error_kind: str | None = None,
        may_have_billed: bool = False,
        request_id: str | None = None,
        wait: bool = True,
        limited: tuple[SpendKey, Decimal] | None = None,
    ) -> None:
        """Record how an attempt ended.

        The reservation is kept only when the provider may have billed tokens
        that were never reported (a cancelled or cut-off call), so the limit
        stays conservative; otherwise the known cost replaces it. Finishes are
        written in batches (group commit). With ``wait`` this returns once the row
        is committed, as the next check of a limit needs; if the database is
        unavailable the finish stays queued and is retried (the pending row keeps
        holding its reservation meanwhile), and this raises
        :class:`DatabaseUnavailableError` so the caller knows it is late. Without
        ``wait`` it returns at once.

        ``limited``: the row holds a reservation against this key's limit (this
        amount). Until the finish is written, this process's next :meth:`reserve` of
        the key counts the row at its real cost, so nobody needs to wait for it.
        """
        values = _finish_values(
            self._clock(),
            outcome=outcome,
            model=model,
            usage=usage,
            cost=cost,
            latency_ms=latency_ms,
            error_kind=error_kind,
            reserved_cost=reserved_cost if may_have_billed else None,
        )
        row = _finish_row(attempt_id, request_id, values)
        if not wait:
            queued = self._writer.submit(_FINISH, row)
            if limited is not None:
                key, held = limited
                counted = cost if cost is not None else values["reserved_cost"]
                self._remember_unsettled(key, queued, (counted or Decimal(0)) - held)
            return
        try:
            await self._writer.write(_FINISH, row, keep_on_outage=True)
        except DatabaseUnavailableError:
            raise
        except StorageError:
            return  # refused even when salvaged: the writer said so; the row stays pending

    async def close_abandoned(self, older_than: timedelta = ABANDONED_AFTER) -> int:
        """Finish the pending rows a crashed process left behind; how many.

        They become ``cancelled`` with error kind ``interrupted``, keeping their
        reservation: the provider may have billed a call whose end no one saw. An
        attempt still running after ``older_than`` is impossible with any configured
        timeout, so a live request of another instance is never touched.
        """
        now = self._clock()
        async with self._db.session() as session:
            result = await session.execute(
                update(UsageEvent)
                # A literal, not a bound parameter: only then may SQLite (and a generic
                # PostgreSQL plan) read the partial index of pending rows.
                .where(text("outcome = 'pending'"), UsageEvent.created_at < now - older_than)
                .values(outcome="cancelled", error_kind="interrupted", finished_at=now)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def month_spend(self, key: SpendKey) -> Decimal:
        """What counts against ``key``'s limit so far: written rows, and the finishes
        this process has queued at their real cost."""
        async with self._db.single_statements() as connection:
            counted = await _written_spend(connection, key)
        return counted + self._unsent_change(key)

    async def month_spend_by_provider(
        self, user_ref: int, key_source: KeySource = "user"
    ) -> dict[str, ProviderSpend]:
        await self.flush()
        start, end = month_bounds(self._clock())
        async with self._db.session() as session:
            rows = await session.execute(
                select(
                    UsageEvent.provider,
                    type_coerce(func.sum(SPEND), Money()),
                    func.sum(UNPRICED_UNCOUNTED),
                )
                .where(
                    UsageEvent.user_ref == user_ref,
                    UsageEvent.key_source == key_source,
                    UsageEvent.created_at >= start,
                    UsageEvent.created_at < end,
                )
                .group_by(UsageEvent.provider)
            )
            return {
                provider: ProviderSpend(spent or Decimal(0), int(count or 0))
                for provider, spent, count in rows
            }

    async def report(self, user_ref: int, start: datetime, end: datetime) -> UsageReport:
        await self.flush()
        in_period = (
            UsageEvent.user_ref == user_ref,
            UsageEvent.created_at >= start,
            UsageEvent.created_at < end,
            FINISHED,
        )
        query = (
            select(
                UsageEvent.provider,
                UsageEvent.model,
                func.count(),
                func.sum(FAILED),
                func.sum(FALLBACK),
                func.sum(UsageEvent.input_tokens),
                func.sum(UsageEvent.output_tokens),
                type_coerce(func.coalesce(func.sum(UsageEvent.cost), 0), Money()),
                func.sum(UNPRICED),
                type_coerce(func.coalesce(func.sum(HELD), 0), Money()),
                func.sum(case((HELD.is_not(None), 1), else_=0)),
                func.count(func.distinct(UsageEvent.request_id)),
                func.sum(CACHED),
                type_coerce(func.coalesce(func.sum(SAVED), 0), Money()),
                func.sum(SAVED_UNKNOWN),
            )
            .where(*in_period)
            .group_by(UsageEvent.provider, UsageEvent.model)
            .order_by(UsageEvent.provider, UsageEvent.model)
        )
        distinct_questions = select(func.count(func.distinct(UsageEvent.request_id)))
        async with self._db.session() as session:
            questions = (await session.execute(distinct_questions.where(*in_period))).scalar()
            rows = await session.execute(query)
            lines = tuple(
                UsageLine(
                    provider_id=provider,
                    model=model,
                    requests=int(requests),
                    failures=int(failures or 0),
                    fallbacks=int(fallbacks or 0),
                    input_tokens=int(tokens_in or 0),
                    output_tokens=int(tokens_out or 0),
                    cost=cost or Decimal(0),
                    unpriced=int(unpriced_count or 0),
                    held=held_cost or Decimal(0),
                    held_requests=int(held_count or 0),
                    questions=int(line_questions),
                    cached=int(cached or 0),
                    saved=saved or Decimal(0),
                    saved_unknown=int(saved_unknown or 0),
                )
                for provider, model, requests, failures, fallbacks, tokens_in, tokens_out, cost, unpriced_count, held_cost, held_count, line_questions, cached, saved, saved_unknown in rows
            )
        return UsageReport(start=start, end=end, lines=lines, questions=int(questions or 0))


def _attempt(
    user_ref: int,
    request_id: str,
    provider_id: str,
    key_source: KeySource,
    request_kind: str,
    is_fallback: bool,
    created_at: datetime,
) -> Row:
    """The columns that say whose attempt a row is, at what and when."""
    return {
        "user_ref": user_ref,
        "request_id": request_id,
        "provider": provider_id,
        "key_source": key_source,
        "request_kind": request_kind,
        "is_fallback": is_fallback,
        "created_at": created_at,
    }


def _finish_values(
    finished_at: datetime,
    *,
    outcome: Outcome | Literal["pending"],
    model: str,
    usage: Usage | None = None,
    cost: Decimal | None = None,
    latency_ms: int | None = None,
    error_kind: str | None = None,
    reserved_cost: Decimal | None = None,
) -> Row:
    """The columns an attempt's end sets (for a pending row: their values until then)."""
    usage = usage or Usage()
    return {
        "outcome": outcome,
        "error_kind": error_kind,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cost": cost,
        "latency_ms": latency_ms,
        "finished_at": finished_at,
        "model": model,
        "reserved_cost": reserved_cost,
    }


def _finish_row(attempt_id: int, request_id: str | None, values: Row) -> Row:
    """The parameters of ``_FINISH``."""
    return {
        "b_id": attempt_id,
        # Not a column (a key named like one would join the SET clause): for warnings only.
        "for_request": request_id,
        **{f"b_{name}": values[name] for name in _FINISH_FIELDS},
    }


def _salvaged(row: Row) -> Row:
    """A usage row the database refused, in a form it takes: the attempt still counts.

    Text is cut to its column's length, implausible token counts become 0, the cost
    becomes unknown (the reservation stays if it is a sane amount) and a finished
    attempt is recorded as an error of kind ``unrecordable``; a pending row stays
    pending, for its finish to complete.
    """
    fixed = dict(row)
    for name, length in _MAX_LENGTH.items():
        if fixed.get(name) is not None:
            fixed[name] = str(fixed[name])[:length]
    for name in _TOKEN_FIELDS:
        fixed[name] = _count(row.get(name))
    fixed["latency_ms"] = _latency(row.get("latency_ms"))
    fixed["cost"] = None
    fixed["reserved_cost"] = _money(row.get("reserved_cost"))
    if "saved_cost" in row:
        fixed["saved_cost"] = _money(row.get("saved_cost"))
    if row.get("outcome") != "pending":
        fixed["outcome"], fixed["error_kind"] = "error", _UNRECORDABLE
    return fixed


def _salvaged_finish(row: Row) -> Row:
    fixed = _salvaged({name: row[f"b_{name}"] for name in _FINISH_FIELDS} | {"outcome": "error"})
    return {**row, **{f"b_{name}": fixed[name] for name in _FINISH_FIELDS}}


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_INT64:
        return value
    return 0


def _latency(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_INT32:
        return value
    return None


def _money(value: object) -> Decimal | None:
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    return value if 0 <= to_nanos(value) <= _MAX_INT64 else None


def _describe(row: Row) -> str:
    return f"the usage row of request {str(row.get('request_id'))[:32]}"


def _describe_finish(row: Row) -> str:
    return f"the end of usage row {row.get('b_id')} (request {str(row.get('for_request'))[:32]})"


_MAX_UNSETTLED_KEYS = 10_000

# The limit check's statements, built once (see UsageLedger.reserve).
_LOCK_USERS = (
    select(User.id)
    .where(User.id.in_(bindparam("ids", expanding=True)))
    .order_by(User.id)  # every process locks in one order: no deadlock
    .with_for_update()
)
_MONTH_SPEND = select(type_coerce(func.coalesce(func.sum(SPEND), 0), Money())).where(
    UsageEvent.user_ref == bindparam("user_ref"),
    UsageEvent.provider == bindparam("provider"),
    UsageEvent.key_source == bindparam("key_source"),
    UsageEvent.created_at >= bindparam("start"),
    UsageEvent.created_at < bindparam("end"),
)
_PENDING = insert(UsageEvent)


async def _written_spend(connection: AsyncConnection, key: SpendKey) -> Decimal:
    """What the written rows count against ``key``'s limit."""
    start, end = month_bounds(key.month)
    parameters = {
        "user_ref": key.user_ref,
        "provider": key.provider_id,
        "key_source": key.key_source,
        "start": start,
        "end": end,
    }
    return await connection.scalar(_MONTH_SPEND, parameters) or Decimal(0)


def _no_change(_key: SpendKey) -> Decimal:
    return Decimal(0)


@dataclass(frozen=True, eq=False)
class _LimitChecks(Statement):
    """Limit checks, each writing its pending row if its worst case fits.

    A batch's checks share its transaction: on PostgreSQL it locks the users' rows
    first; on SQLite the writer takes the write lock (``reads_first``). Checks of one
    key in one batch see each other, one after the other. Each row's result is the new
    row's id (None: refused) and the spend the check saw.
    """

    unsent_change: Callable[[SpendKey], Decimal] = _no_change

    async def run(self, connection: AsyncConnection, rows: list[Row]) -> list[Any]:
        if connection.dialect.name == "postgresql":
            users = sorted({row["key"].user_ref for row in rows})
            await connection.execute(_LOCK_USERS, {"ids": users})
        spent_by_key: dict[SpendKey, Decimal] = {}
        results: list[Any] = []
        for row in rows:
            key: SpendKey = row["key"]
            spent = spent_by_key.get(key)
            if spent is None:
                counted = await _written_spend(connection, key)
                # Read after the sum: a finish still unsent now was not in its snapshot.
                spent = counted + self.unsent_change(key)
            if spent + row["worst"] > row["limit"]:
                spent_by_key[key] = spent
                results.append((None, spent))
                continue
            inserted = (await connection.execute(_PENDING, row["pending"])).inserted_primary_key
            assert inserted is not None
            spent_by_key[key] = spent + row["worst"]
            results.append((int(inserted[0]), spent))
        return results


def _salvaged_check(row: Row) -> Row:
    return {**row, "pending": _salvaged(row["pending"])}


# How usage rows are written (group commit, see byok.db.writer).
_RECORD = Statement(insert(UsageEvent), salvage=_salvaged, describe=_describe)
# A pending row; its writer gets the row's id back.
_BEGIN = Statement(insert(UsageEvent), salvage=_salvaged, describe=_describe, returns_id=True)
# A finish: one UPDATE per row, many rows per transaction.
_FINISH = Statement(
    update(UsageEvent)
    .where(UsageEvent.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _FINISH_FIELDS}),
    salvage=_salvaged_finish,
    describe=_describe_finish,
)
