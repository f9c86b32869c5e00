"""Group commit: rows queued by many requests are written together in one transaction.

A writer task runs while rows are queued; whatever arrives while one batch is being
written goes into the next. Each row comes with its :class:`Statement`: an INSERT (which
can hand back the new row's id), or an UPDATE whose WHERE and SET use bound parameters;
rows of one statement in a batch run as one executemany.

Rows someone waits for (:meth:`BatchWriter.write`) go first, in a transaction of their
own. Rows nobody waits for (:meth:`BatchWriter.submit`) wait up to ``linger_s`` for
company, so a stream of requests costs one commit per many rows, not one per row; a
:meth:`BatchWriter.flush` writes them at once.

If the database is unavailable the batch is kept and retried with backoff, so a short
outage loses nothing. A row the database refuses (a value too long or out of range, a
broken constraint) never costs the other rows of its batch theirs: the batch is split
in halves until the refused row stands alone, and that row is written in the smaller
form its statement's ``salvage`` makes of it, with one WARNING naming it (``describe``)
and why. Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert, Update, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from byok.db.database import Database
from byok.errors import DatabaseUnavailableError, StorageError

__all__ = ["BatchWriter", "QueuedRow", "Row", "Statement"]

log = logging.getLogger(__name__)

Row = dict[str, Any]

_MAX_QUEUED = 100_000
_WRITE_NOW = 500  # rows queued: enough company, write without lingering
_MAX_BACKOFF_S = 5.0
_MAX_REASON = 200


def _no_salvage(_row: Row) -> Row | None:
    return None


def _a_row(_row: Row) -> str:
    return "a row"


@dataclass(frozen=True, eq=False)
class Statement:
    """How rows are written, and what becomes of a row the database refuses.

    With ``returns_id`` (an INSERT) a waiter gets the new row's primary key. A
    statement that reads before it writes (``reads_first``: a check under a limit)
    runs after the others of its batch, and on SQLite makes the batch's transaction
    take the write lock before anything is read, so no other process writes between
    its read and its write. Subclasses may override :meth:`run`.
    """

    sql: Insert | Update
    salvage: Callable[[Row], Row | None] = _no_salvage
    describe: Callable[[Row], str] = _a_row
    returns_id: bool = False
    reads_first: bool = False
    _returning: Insert | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.returns_id:
            assert isinstance(self.sql, Insert)
            key = self.sql.table.primary_key.columns  # type: ignore[attr-defined]
            returning = self.sql.returning(*key, sort_by_parameter_order=True)
            object.__setattr__(self, "_returning", returning)

    async def run(self, connection: AsyncConnection, rows: list[Row]) -> list[Any]:
        """Execute for ``rows``; the new ids (``returns_id``), else a None per row."""
        if not self.returns_id:
            await connection.execute(self.sql, rows)
            return [None] * len(rows)
        if connection.dialect.name == "sqlite" or len(rows) == 1:
            # One row at a time, its id from the driver: SQLite cannot batch an ordered
            # RETURNING anyway, and this saves a round trip to its thread per row.
            ids = []
            for row in rows:
                key = (await connection.execute(self.sql, row)).inserted_primary_key
                assert key is not None
                ids.append(key[0])
            return ids
        returned = await connection.execute(self._returning, rows)  # type: ignore[arg-type]
        return [found[0] for found in returned]


@dataclass(eq=False, slots=True)
class QueuedRow:
    """A row in the writer's queue. ``sent``: it has left the queue, to be written (so it
    may be committed any moment now, or already be) or given up; until then the database
    surely lacks it."""

    statement: Statement
    row: Row
    # Who waits for the commit: gets the statement's result for the row.
    waiter: asyncio.Future[Any] | None = None
    # On an outage: keep the row for the next try, or hand it back to its waiter.
    keep_on_outage: bool = True
    written: bool = False
    sent: bool = False
    queued_at: float = field(default_factory=time.monotonic)

    def resolve(self, result: Any) -> None:
        self.written = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(result)

    def fail(self, error: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.waiter = None


class BatchWriter:
    def __init__(self, database: Database, *, linger_s: float = 0.05) -> None:
        self._db = database
        self._linger_s = linger_s
        self._queued: list[QueuedRow] = []
        self._in_flight: list[QueuedRow] = []  # the batch being written
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._wake = asyncio.Event()
        self._flushing = 0

    @property
    def queued(self) -> int:
        """Rows not yet committed: waiting, or in the batch being written."""
        return len(self._queued) + len(self._in_flight)

    def submit(self, statement: Statement, row: Row) -> QueuedRow:
        """Queue ``row``; it is written soon, and kept through database outages."""
        queued = QueuedRow(statement, row)
        self._enqueue(queued)
        return queued

    def write(self, statement: Statement, row: Row, *, keep_on_outage: bool) -> asyncio.Future[Any]:
        """Queue ``row``; the future resolves once its batch is committed.

        Its result is the new row's id (``returns_id``), else None. If the database is
        unavailable it raises :class:`DatabaseUnavailableError`, and the row is either
        kept and retried (``keep_on_outage``) or withdrawn. If the database refuses the
        row even in its salvaged form it raises :class:`StorageError`.
        """
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(QueuedRow(statement, row, waiter, keep_on_outage))
        return waiter

    def _enqueue(self, entry: QueuedRow) -> None:
        if len(self._queued) >= _MAX_QUEUED:
            log.error("usage writer: %d rows queued while the database is down; dropping the oldest",
                      len(self._queued))  # fmt: skip
            dropped = self._queued.pop(0)
            dropped.sent = True
            dropped.fail(DatabaseUnavailableError("the usage queue is full"))
        self._queued.append(entry)
        self._idle.clear()
        if entry.waiter is not None or len(self._queued) >= _WRITE_NOW:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
            self._task.add_done_callback(_report_crash)

    async def flush(self) -> None:
        """Write every queued row now, and wait until they are committed."""
        if self._task is None or self._task.done():
            return
        self._flushing += 1
        self._wake.set()
        try:
            await asyncio.shield(self._idle.wait())
        finally:
            self._flushing -= 1

    def abandon(self) -> int:
        """Give up on the rows not yet written (the database stays away); how many."""
        lost = self.queued
        for entry in (*self._in_flight, *self._queued):
            entry.sent = True
            if entry.waiter is not None:
                entry.waiter.cancel()
        self._queued, self._in_flight = [], []
        if self._task is not None:
            self._task.cancel()
        self._idle.set()
        return lost

    async def _drain(self) -> None:
        backoff = 0.05
        try:
            while self._queued:
                await self._linger()
                batch = self._in_flight = self._take_batch()
                for entry in batch:
                    entry.sent = True
                try:
                    await self._write_isolating(batch)
                except DatabaseUnavailableError as exc:
                    self._in_flight = []
                    self._requeue_after_outage(batch, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                else:
                    self._in_flight = []
                    backoff = 0.05
        finally:
            self._stop_waiting_for_the_batch()
            self._idle.set()

    def _urgent(self) -> bool:
        return self._flushing > 0 or any(entry.waiter is not None for entry in self._queued)

    async def _linger(self) -> None:
        """With nobody waiting, give more rows a moment to join this commit."""
        if self._urgent() or len(self._queued) >= _WRITE_NOW:
            return
        self._wake.clear()
        wait = self._queued[0].queued_at + self._linger_s - time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(wait, 0))

    def _take_batch(self) -> list[QueuedRow]:
        """Rows someone waits for alone, unless the others have waited long enough."""
        queued, self._queued = self._queued, []
        due = time.monotonic() - self._linger_s
        if self._flushing or queued[0].queued_at <= due or len(queued) >= _WRITE_NOW:
            return queued
        batch = [entry for entry in queued if entry.waiter is not None]
        self._queued = [entry for entry in queued if entry.waiter is None]
        return batch or queued

    def _stop_waiting_for_the_batch(self) -> None:
        """After a cancel (or a crash): the unwritten rows of the batch go back in the
        queue, for a later writer task; their waiters stop waiting."""
        unwritten = [entry for entry in self._in_flight if not entry.written]
        for entry in unwritten:
            if entry.waiter is not None:
                entry.waiter.cancel()
                entry.waiter = None
        self._queued[:0] = [entry for entry in unwritten if entry.keep_on_outage]
        self._in_flight = []

    def _requeue_after_outage(self, batch: list[QueuedRow], exc: DatabaseUnavailableError) -> None:
        unwritten = [entry for entry in batch if not entry.written]
        kept = [entry for entry in unwritten if entry.keep_on_outage]
        for entry in unwritten:
            entry.fail(exc)  # its waiter hears of the outage; a kept row is retried
        self._queued[:0] = kept
        if kept:
            log.warning("usage writer: database unavailable, %d rows kept; retrying",
                        len(self._queued))  # fmt: skip

    async def _write_isolating(self, batch: Sequence[QueuedRow]) -> None:
        """Write ``batch``; if the database refuses it, find the refused rows by halving."""
        try:
            results = await self._execute(batch)
        except DatabaseUnavailableError:
            raise
        # Whatever the driver raises for a row it refuses (a DBAPIError, or an OverflowError
        # from sqlite3 before the statement runs): the other rows must still be written.
        except Exception as exc:  # noqa: BLE001
            if len(batch) > 1:
                middle = len(batch) // 2
                await self._write_isolating(batch[:middle])
                await self._write_isolating(batch[middle:])
            else:
                await self._write_salvaged(batch[0], _reason(exc))
            return
        for entry, result in zip(batch, results, strict=True):
            entry.resolve(result)

    async def _write_salvaged(self, entry: QueuedRow, why: str) -> None:
        statement = entry.statement
        what = statement.describe(entry.row)
        try:
            salvaged = statement.salvage(entry.row)
            result = None
            if salvaged is not None:
                [result] = await self._execute([QueuedRow(statement, salvaged)])
        except DatabaseUnavailableError:
            raise
        except Exception:  # noqa: BLE001  # refused in its salvaged form too
            salvaged = None
        if salvaged is None:
            log.warning("usage writer: the database refused %s (%s); it is not recorded",
                        what, why)  # fmt: skip
            entry.written = True  # nothing to retry: the database would refuse it again
            refused = StorageError(
                f"the database refused {what} ({why})",
                explanation="The bot could not record this request, so it was not sent.",
            )
            entry.fail(refused)
            return
        log.warning("usage writer: the database refused %s (%s); wrote it with the refused "
                    "values cut or cleared", what, why)  # fmt: skip
        entry.resolve(result)

    async def _execute(self, batch: Sequence[QueuedRow]) -> list[Any]:
        """Write ``batch`` in one transaction; each entry's result, in order."""
        groups: dict[Statement, list[int]] = {}
        for index, entry in enumerate(batch):
            groups.setdefault(entry.statement, []).append(index)
        results: list[Any] = [None] * len(batch)
        in_order = sorted(groups.items(), key=lambda group: group[0].reads_first)
        async with self._db.transaction() as connection:
            if in_order[-1][0].reads_first and self._db.dialect == "sqlite":
                await connection.execute(_BEGIN_IMMEDIATE)
            for statement, indexes in in_order:
                found = await statement.run(connection, [batch[i].row for i in indexes])
                for index, result in zip(indexes, found, strict=True):
                    results[index] = result
        return results


_BEGIN_IMMEDIATE = text("BEGIN IMMEDIATE")


def _reason(exc: BaseException) -> str:
    """Why the database refused a row, in one short line (the driver's words, no SQL)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else type(cause).__name__
    return text[:_MAX_REASON]


def _report_crash(task: asyncio.Task[None]) -> None:
    """A writer that failed in a way nobody foresaw says so, instead of failing silently."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("usage writer stopped: %s", type(exc).__name__, exc_info=exc)
