"""The usage ledger: one row per attempt, month-to-date spend, and usage reports.

An attempt's row is written *before* the provider is called (``pending``, holding
its worst-case cost as a reservation) and finished afterwards, so concurrent
requests see each other against a monthly limit, and a cancelled caller still
leaves exactly one row. Spend counts a row's real cost, or its reservation while
the real cost is not known. Aggregation happens in SQL.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import and_, bindparam, case, func, insert, select, text, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from byok.clock import Clock, utc_now
from byok.db.columns import Money
from byok.db.engine import Database
from byok.db.tables import UsageEvent
from byok.db.writer import BatchWriter
from byok.errors import DatabaseUnavailableError
from byok.types import Usage

__all__ = [
    "KeySource",
    "Outcome",
    "UsageLedger",
    "UsageLine",
    "UsageReport",
    "month_bounds",
    "week_bounds",
]

KeySource = Literal["user", "operator"]
Outcome = Literal["success", "error", "cancelled"]


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

    @property
    def successes(self) -> int:
        return self.requests - self.failures


@dataclass(frozen=True, slots=True)
class UsageReport:
    start: datetime
    end: datetime
    lines: tuple[UsageLine, ...]

    @property
    def requests(self) -> int:
        return sum(line.requests for line in self.lines)

    @property
    def cost(self) -> Decimal:
        return sum((line.cost for line in self.lines), Decimal(0))

    @property
    def unpriced(self) -> int:
        return sum(line.unpriced for line in self.lines)

    def by_provider(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.provider_id] = totals.get(line.provider_id, Decimal(0)) + line.cost
        return totals


# Cost counted against a limit: the real cost, else the reservation still held.
_SPEND = func.coalesce(UsageEvent.cost, UsageEvent.reserved_cost)

# Older pending rows belong to a process that died mid-request (requests time out long before).
ABANDONED_AFTER = timedelta(hours=1)

_FINISH_FIELDS = (
    "outcome", "error_kind", "input_tokens", "output_tokens", "cached_input_tokens",
    "reasoning_tokens", "cost", "latency_ms", "finished_at", "model", "reserved_cost",
)  # fmt: skip
# The same finish, for rows whose first write met a database outage (retried in batches).
_FINISH_LATER = (
    update(UsageEvent)
    .where(UsageEvent.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _FINISH_FIELDS})
)


class UsageLedger:
    def __init__(self, database: Database, clock: Clock = utc_now) -> None:
        self._db = database
        self._clock = clock
        self._writer = BatchWriter(database, insert(UsageEvent))
        self._late_finishes = BatchWriter(database, _FINISH_LATER)

    async def begin(
        self,
        session: AsyncSession,
        *,
        user_ref: int,
        request_id: str,
        provider_id: str,
        model: str,
        key_source: KeySource,
        request_kind: str,
        is_fallback: bool,
        reserved_cost: Decimal | None,
    ) -> int:
        """Write the pending row of an attempt, inside the caller's transaction."""
        row = UsageEvent(
            user_ref=user_ref,
            request_id=request_id,
            provider=provider_id,
            model=model,
            key_source=key_source,
            request_kind=request_kind,
            is_fallback=is_fallback,
            outcome="pending",
            reserved_cost=reserved_cost,
            created_at=self._clock(),
        )
        session.add(row)
        await session.flush()
        return row.id

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
    ) -> None:
        """Queue a finished attempt (one with no limit to reserve against) for writing.

        Rows are written in batches, one transaction for all that arrived meanwhile
        (group commit), so the answer never waits for the database. Reads of this
        ledger flush first; :meth:`flush` and :meth:`aclose` wait for the writes.
        """
        usage = usage or Usage()
        self._writer.submit(
            {
                "user_ref": user_ref,
                "request_id": request_id,
                "provider": provider_id,
                "model": model,
                "key_source": key_source,
                "request_kind": request_kind,
                "is_fallback": is_fallback,
                "outcome": outcome,
                "error_kind": error_kind,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cached_input_tokens": usage.cached_input_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
                "cost": cost,
                "reserved_cost": reserved_cost,
                "latency_ms": latency_ms,
                "created_at": created_at,
                "finished_at": self._clock(),
            }
        )

    @property
    def queued(self) -> int:
        """Finished attempts whose rows are not written yet."""
        return self._writer.queued + self._late_finishes.queued

    def abandon(self) -> int:
        """Stop trying to write the queued rows (shutting down with no database)."""
        return self._writer.abandon() + self._late_finishes.abandon()

    async def flush(self) -> None:
        """Wait until every queued row is written."""
        await self._writer.flush()
        await self._late_finishes.flush()

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
    ) -> None:
        """Record how an attempt ended.

        The reservation is kept only when the provider may have billed tokens
        that were never reported (a cancelled or cut-off call), so the limit
        stays conservative; otherwise the known cost replaces it. If the database
        is unavailable the finish is queued and retried like :meth:`record`'s rows
        (the pending row keeps holding its reservation meanwhile), and this raises
        :class:`DatabaseUnavailableError` so the caller knows it is late.
        """
        usage = usage or Usage()
        values: dict[str, object] = {
            "outcome": outcome,
            "error_kind": error_kind,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "cost": cost,
            "latency_ms": latency_ms,
            "finished_at": self._clock(),
            "model": model,
            "reserved_cost": reserved_cost if may_have_billed else None,
        }
        try:
            async with self._db.session() as session:
                await session.execute(
                    update(UsageEvent).where(UsageEvent.id == attempt_id).values(**values)
                )
        except DatabaseUnavailableError:
            self._late_finishes.submit(
                {"b_id": attempt_id, **{f"b_{name}": value for name, value in values.items()}}
            )
            raise

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

    async def month_spend(
        self,
        session: AsyncSession,
        *,
        user_ref: int,
        provider_id: str,
        key_source: KeySource,
        now: datetime | None = None,
    ) -> Decimal:
        start, end = month_bounds(now or self._clock())
        total = await session.scalar(
            select(type_coerce(func.coalesce(func.sum(_SPEND), 0), Money())).where(
                UsageEvent.user_ref == user_ref,
                UsageEvent.provider == provider_id,
                UsageEvent.key_source == key_source,
                UsageEvent.created_at >= start,
                UsageEvent.created_at < end,
            )
        )
        return total if total is not None else Decimal(0)

    async def month_spend_by_provider(
        self, user_ref: int, key_source: KeySource = "user"
    ) -> dict[str, Decimal]:
        await self.flush()
        start, end = month_bounds(self._clock())
        async with self._db.session() as session:
            rows = await session.execute(
                select(UsageEvent.provider, type_coerce(func.sum(_SPEND), Money()))
                .where(
                    UsageEvent.user_ref == user_ref,
                    UsageEvent.key_source == key_source,
                    UsageEvent.created_at >= start,
                    UsageEvent.created_at < end,
                )
                .group_by(UsageEvent.provider)
            )
            return {provider: spent or Decimal(0) for provider, spent in rows}

    async def report(self, user_ref: int, start: datetime, end: datetime) -> UsageReport:
        await self.flush()
        failed = case((UsageEvent.outcome != "success", 1), else_=0)
        unpriced = case(
            (and_(UsageEvent.outcome == "success", UsageEvent.cost.is_(None)), 1), else_=0
        )
        held = case((UsageEvent.cost.is_(None), UsageEvent.reserved_cost), else_=None)
        query = (
            select(
                UsageEvent.provider,
                UsageEvent.model,
                func.count(),
                func.sum(failed),
                func.sum(case((UsageEvent.is_fallback, 1), else_=0)),
                func.sum(UsageEvent.input_tokens),
                func.sum(UsageEvent.output_tokens),
                type_coerce(func.coalesce(func.sum(UsageEvent.cost), 0), Money()),
                func.sum(unpriced),
                type_coerce(func.coalesce(func.sum(held), 0), Money()),
                func.sum(case((held.is_not(None), 1), else_=0)),
            )
            .where(
                UsageEvent.user_ref == user_ref,
                UsageEvent.created_at >= start,
                UsageEvent.created_at < end,
                UsageEvent.outcome != "pending",
            )
            .group_by(UsageEvent.provider, UsageEvent.model)
            .order_by(UsageEvent.provider, UsageEvent.model)
        )
        async with self._db.session() as session:
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
                )
                for provider, model, requests, failures, fallbacks, tokens_in, tokens_out, cost, unpriced_count, held_cost, held_count in rows
            )
        return UsageReport(start=start, end=end, lines=lines)
