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

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from byok.db.clock import db_seconds
from byok.db.engine import Database
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
        self._insert = pg_insert if database.dialect == "postgresql" else sqlite_insert

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
        now = self._now()
        start = self._greatest(RateBucket.tat, now)
        return await self._upsert(
            subject,
            first=now + self.interval,
            then=start + self.interval,
            only_if=start + self.interval - now <= self.burst * self.interval,
        )

    async def take_in_debt(self, subject: str, *, max_debt: float) -> Taken:
        """Take one token even when none is left, down to ``-max_debt`` tokens.

        A deeper debt already there (a :meth:`hold`) is kept, not shortened.
        """
        now = self._now()
        start = self._greatest(RateBucket.tat, now)
        floor = now + (self.burst + max_debt) * self.interval
        return await self._upsert(
            subject,
            first=now + self.interval,
            then=self._greatest(start, self._least(start + self.interval, floor)),
        )

    async def hold(self, subject: str, seconds: float) -> Taken:
        """No take is allowed for ``seconds`` (a take then finds one token)."""
        now = self._now()
        until = now + (self.burst - 1.0) * self.interval + seconds
        return await self._upsert(
            subject, first=until, then=self._greatest(self._greatest(RateBucket.tat, now), until)
        )

    # -- SQL ---------------------------------------------------------------------------

    @staticmethod
    def _subject(subject: str) -> str:
        """``subject`` as stored: one too long for its column by its digest."""
        if len(subject) <= _SUBJECT_CHARS:
            return subject
        return "sha256:" + hashlib.sha256(subject.encode()).hexdigest()

    def _now(self) -> ColumnElement[float]:
        return db_seconds(self._database.dialect)

    def _greatest(self, a: Seconds, b: Seconds) -> ColumnElement[float]:
        # SQLite's two-argument max() is its GREATEST.
        name = "greatest" if self._database.dialect == "postgresql" else "max"
        return getattr(func, name)(a, b, type_=RateBucket.tat.type)  # type: ignore[no-any-return]

    def _least(self, a: Seconds, b: Seconds) -> ColumnElement[float]:
        name = "least" if self._database.dialect == "postgresql" else "min"
        return getattr(func, name)(a, b, type_=RateBucket.tat.type)  # type: ignore[no-any-return]

    async def _upsert(
        self,
        subject: str,
        *,
        first: ColumnElement[float],
        then: ColumnElement[float],
        only_if: ColumnElement[bool] | None = None,
    ) -> Taken:
        subject = self._subject(subject)
        statement = (
            self._insert(RateBucket)
            .values(scope=self.scope, subject=subject, tat=first)
            .on_conflict_do_update(
                index_elements=[RateBucket.scope, RateBucket.subject],
                set_={"tat": then},
                where=only_if,
            )
            .returning(RateBucket.tat - self._now())
        )
        async with self._database.transaction() as connection:
            ahead = (await connection.execute(statement)).scalar()
            if ahead is None:  # refused: the row is as it was (and locked until commit)
                ahead = await self._ahead(connection, subject)
                taken = Taken(False, ahead)
            else:
                taken = Taken(True, float(ahead))
        await self._sweep_now_and_then()
        return taken

    async def _ahead(self, connection: AsyncConnection, subject: str) -> float:
        found = await connection.scalar(
            select(RateBucket.tat - self._now()).where(
                RateBucket.scope == self.scope, RateBucket.subject == subject
            )
        )
        return float(found or 0.0)

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
                        RateBucket.tat < self._now() - STALE_AFTER_S,
                    )
                )
        except DatabaseUnavailableError as exc:
            log.debug("rate buckets: stale rows not swept (%s)", exc)
