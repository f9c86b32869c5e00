"""Rate limits every instance shares, kept in the database: GCRA, one statement a check.

A bucket of ``burst`` tokens refilling at ``per_second`` is kept as one number per
``(scope, subject)``: the theoretical arrival time ``tat`` of the next request when the
bucket is taken at its pace (the generic cell rate algorithm). With ``T = 1/per_second``
a take moves ``tat`` to ``max(tat, now) + T`` and is allowed while ``tat - now`` stays
within ``burst·T``; the tokens left are ``burst - max(0, tat - now)/T``. A row whose
``tat`` has passed is a full bucket, so old rows may be deleted at any time.

Each check is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (PostgreSQL, and SQLite
from 3.35): the row is locked while it is changed, so instances taking at the same moment
never both get the last token. ``now`` is the database's clock (:func:`byok.db.clock.db_seconds`),
so hosts whose clocks disagree still share one pace.

Database trouble reaches the caller as :class:`~byok.errors.DatabaseUnavailableError`;
what to do then (allow, or fall back to a local budget) is the caller's choice, and
:class:`OutageLog` says so once per outage.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Float, String, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ColumnElement

from byok.db.clock import db_seconds
from byok.db.database import Database
from byok.db.tables import RateBucket
from byok.errors import DatabaseUnavailableError

__all__ = ["OutageLog", "SharedBucket", "Taken"]

log = logging.getLogger(__name__)

#: Rows idle this long are deleted (a row whose time has passed is a full bucket anyway).
STALE_AFTER_S = 3600.0
#: How often one process deletes stale rows of its scope.
SWEEP_EVERY_S = 600.0

_SUBJECT_CHARS = 128  # rate_buckets.subject

Seconds = ColumnElement[float] | InstrumentedAttribute[float]


@dataclass(frozen=True, slots=True)
class Taken:
    """What a check found: whether it took a token, and how far ``tat`` is ahead of now."""

    allowed: bool
    ahead_s: float


class OutageLog:
    """One WARNING when the database first fails a shared check, one INFO when it is back."""

    def __init__(self, logger: logging.Logger, what: str, consequence: str) -> None:
        self._logger = logger
        self._what = what
        self._consequence = consequence
        self._down = False

    def failed(self, exc: DatabaseUnavailableError) -> None:
        if not self._down:
            self._down = True
            self._logger.warning("%s: %s; %s", self._what, exc, self._consequence)

    def worked(self) -> None:
        if self._down:
            self._down = False
            self._logger.info("%s: the database answers again", self._what)


class SharedBucket:
    """Token buckets of one ``scope``, one per subject, shared through the database."""

    def __init__(
        self,
        database: Database,
        scope: str,
        *,
        per_second: float,
        burst: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self.scope = scope
        self.interval = 1.0 / max(per_second, 1e-9)
        self.burst = max(float(burst), 1.0)
        self._monotonic = monotonic
        self._next_sweep = monotonic() + SWEEP_EVERY_S
        self._statements = _Statements.build(database.dialect, scope, self.interval, self.burst)

    # -- what a check's answer means ---------------------------------------------------

    def tokens(self, ahead_s: float) -> float:
        """Tokens left when ``tat`` is ``ahead_s`` ahead of now (negative: in debt)."""
        return self.burst - max(ahead_s, 0.0) / self.interval

    def wait_s(self, ahead_s: float) -> float:
        """Seconds until a take would be allowed, ``tat`` being ``ahead_s`` ahead of now."""
        return max(0.0, ahead_s - (self.burst - 1.0) * self.interval)

    # -- checks ------------------------------------------------------------------------

    async def take(self, subject: str) -> Taken:
        """Take one token if there is one; refused (nothing taken) otherwise."""
        return await self._upsert(self._statements.take, {"subject": self._subject(subject)})

    async def take_in_debt(self, subject: str, *, max_debt: float) -> Taken:
        """Take one token even when none is left, down to ``-max_debt`` tokens.

        A deeper debt already there (a :meth:`hold`) is kept, not shortened.
        """
        parameters = {"subject": self._subject(subject), "max_debt": float(max_debt)}
        return await self._upsert(self._statements.take_in_debt, parameters)

    async def hold(self, subject: str, seconds: float) -> Taken:
        """No take is allowed for ``seconds`` (a take then finds one token)."""
        parameters = {"subject": self._subject(subject), "seconds": float(seconds)}
        return await self._upsert(self._statements.hold, parameters)

    # -- SQL ---------------------------------------------------------------------------

    @staticmethod
    def _subject(subject: str) -> str:
        """``subject`` as stored: one too long for its column by its digest."""
        if len(subject) <= _SUBJECT_CHARS:
            return subject
        return "sha256:" + hashlib.sha256(subject.encode()).hexdigest()

    async def _upsert(self, statement: Executable, parameters: dict[str, object]) -> Taken:
        # Each statement is whole on its own: the upsert locks the row while it changes it.
        async with self._database.single_statements() as connection:
            ahead = (await connection.execute(statement, parameters)).scalar()
            if ahead is None:  # refused: the row was left as it was
                found = await connection.scalar(self._statements.ahead, parameters)
                taken = Taken(False, float(found or 0.0))
            else:
                taken = Taken(True, float(ahead))
        await self._sweep_now_and_then()
        return taken

    async def _sweep_now_and_then(self) -> None:
        """Delete this scope's long-idle rows, at most once per ``SWEEP_EVERY_S`` here."""
        if self._monotonic() < self._next_sweep:
            return
        self._next_sweep = self._monotonic() + SWEEP_EVERY_S
        try:
            async with self._database.transaction() as connection:
                await connection.execute(
                    delete(RateBucket).where(
                        RateBucket.scope == self.scope,
                        RateBucket.tat < db_seconds(self._database.dialect) - STALE_AFTER_S,
                    )
                )
        except DatabaseUnavailableError as exc:
            log.debug("rate buckets: stale rows not swept (%s)", exc)


@dataclass(frozen=True, slots=True)
class _Statements:
    """One bucket's statements, built once: a check binds only ``subject`` (and its number)."""

    take: Executable
    take_in_debt: Executable
    hold: Executable
    ahead: Executable

    @classmethod
    def build(cls, dialect: str, scope: str, interval: float, burst: float) -> _Statements:
        postgres = dialect == "postgresql"
        insert = pg_insert if postgres else sqlite_insert
        tat_type = RateBucket.tat.type

        def greatest(a: Seconds, b: Seconds) -> ColumnElement[float]:
            # SQLite's two-argument max() is its GREATEST.
            return getattr(func, "greatest" if postgres else "max")(a, b, type_=tat_type)  # type: ignore[no-any-return]

        def least(a: Seconds, b: Seconds) -> ColumnElement[float]:
            return getattr(func, "least" if postgres else "min")(a, b, type_=tat_type)  # type: ignore[no-any-return]

        now = db_seconds(dialect)
        subject = bindparam("subject", type_=String)

        def upsert(
            first: ColumnElement[float],
            then: ColumnElement[float],
            only_if: ColumnElement[bool] | None = None,
        ) -> Executable:
            return (
                insert(RateBucket)
                .values(scope=scope, subject=subject, tat=first)
                .on_conflict_do_update(
                    index_elements=[RateBucket.scope, RateBucket.subject],
                    set_={"tat": then},
                    where=only_if,
                )
                .returning(RateBucket.tat - now)
            )

        start = greatest(RateBucket.tat, now)
        floor = now + (burst + bindparam("max_debt", type_=Float)) * interval
        until = now + (burst - 1.0) * interval + bindparam("seconds", type_=Float)
        return cls(
            take=upsert(
                now + interval,
                start + interval,
                only_if=start + interval - now <= burst * interval,
            ),
            take_in_debt=upsert(now + interval, greatest(start, least(start + interval, floor))),
            hold=upsert(until, greatest(greatest(RateBucket.tat, now), until)),
            ahead=select(RateBucket.tat - now).where(
                RateBucket.scope == scope, RateBucket.subject == subject
            ),
        )
