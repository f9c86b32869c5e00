"""Group commit: rows queued by many requests are written together in one transaction.

A writer task runs while rows are queued; whatever arrives while one batch is being
written goes into the next. If the database is unavailable the batch is kept and
retried with backoff, so a short outage loses nothing. The statement is an INSERT, or
an UPDATE whose WHERE and SET use bound parameters (run once per row, executemany).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Insert, Update

from byok.db.engine import Database
from byok.errors import DatabaseUnavailableError

__all__ = ["BatchWriter"]

log = logging.getLogger(__name__)

_MAX_QUEUED = 100_000
_MAX_BACKOFF_S = 5.0


class BatchWriter:
    def __init__(self, database: Database, statement: Insert | Update) -> None:
        self._db = database
        self._statement = statement
        self._queued: list[dict[str, Any]] = []
        self._writing = 0
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def queued(self) -> int:
        """Rows not yet committed: waiting, or in the batch being written."""
        return len(self._queued) + self._writing

    def submit(self, row: dict[str, Any]) -> None:
        if len(self._queued) >= _MAX_QUEUED:
            log.error("usage writer: %d rows queued while the database is down; dropping the oldest",
                      len(self._queued))  # fmt: skip
            del self._queued[0]
        self._queued.append(row)
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self) -> None:
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._idle.wait())

    def abandon(self) -> int:
        """Give up on the rows not yet written (the database stays away); how many."""
        lost = self.queued
        self._queued = []
        if self._task is not None:
            self._task.cancel()
        self._idle.set()
        return lost

    async def _drain(self) -> None:
        backoff = 0.05
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                self._writing = len(batch)
                try:
                    async with self._db.transaction() as connection:
                        await connection.execute(self._statement, batch)
                except DatabaseUnavailableError:
                    self._queued[:0] = batch
                    self._writing = 0
                    log.warning("usage writer: database unavailable, %d rows kept; retrying",
                                len(self._queued))  # fmt: skip
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                else:
                    self._writing = 0
                    backoff = 0.05
        finally:
            self._idle.set()
