"""Each platform event answered once, whichever instance it reached.

Platforms deliver an event again when they are not sure it arrived: Slack re-sends an
Events API event that was not acknowledged in time (over Socket Mode possibly to another
of the app's connections; in HTTP mode a load balancer may pass the retry to another
instance). :meth:`EventLedger.first_delivery` claims the event's key in the
``handled_events`` table with ``INSERT … ON CONFLICT DO NOTHING``: exactly one claim
succeeds, on every instance sharing the database. Adapters call it right after
acknowledging an event and before any work, with a key naming platform and event id
(``slack:event:Ev0123``).

When the database cannot be reached the event is answered (True): a second answer is
better than none. One WARNING says so per outage. Keys older than an hour (beyond any
platform's retry window) are deleted now and then.

On SQLite one ``run`` owns the database file, so every delivery reaches this process and
the keys are kept in its memory instead: a write per event on SQLite's single writer
would cost every answer latency for nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from byok.db.clock import db_seconds
from byok.db.database import Database
from byok.db.tables import HandledEvent
from byok.errors import DatabaseUnavailableError
from byok.shared_rate import OutageLog

__all__ = ["EventLedger"]

log = logging.getLogger(__name__)

#: How long a handled event's key is kept (Slack retries within minutes).
KEEP_S = 3600.0
#: How often one process deletes expired keys.
SWEEP_EVERY_S = 600.0

_KEY_CHARS = 160  # handled_events.key
_KEPT_HERE = 100_000  # keys kept in memory (SQLite) at most


class EventLedger:
    """Which events some instance has taken, in the database every instance shares."""

    def __init__(
        self,
        database: Database,
        *,
        keep_s: float = KEEP_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._keep_s = keep_s
        self._monotonic = monotonic
        self._shared = database.dialect == "postgresql"
        self._here: OrderedDict[str, float] = OrderedDict()  # SQLite: key -> when seen
        self._next_sweep = monotonic() + SWEEP_EVERY_S
        self._insert = pg_insert if database.dialect == "postgresql" else sqlite_insert
        self._outage = OutageLog(
            log, "event de-duplication", "events are answered without checking for a repeat"
        )

    async def first_delivery(self, key: str) -> bool:
        """True for the first delivery of the event ``key`` names, False for any repeat."""
        if not self._shared:
            return self._first_here(key)
        if len(key) > _KEY_CHARS:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        now = db_seconds(self._database.dialect)
        claim = (
            self._insert(HandledEvent)
            .values(key=key, seen_at=now)
            .on_conflict_do_nothing(index_elements=[HandledEvent.key])
            .returning(HandledEvent.key)
        )
        try:
            async with self._database.transaction() as connection:
                first = (await connection.execute(claim)).first() is not None
        except DatabaseUnavailableError as exc:
            self._outage.failed(exc)
            return True
        self._outage.worked()
        await self._sweep_now_and_then()
        return first

    def _first_here(self, key: str) -> bool:
        now = self._monotonic()
        here = self._here
        while here and (len(here) >= _KEPT_HERE or next(iter(here.values())) < now - self._keep_s):
            here.popitem(last=False)
        if key in here:
            return False
        here[key] = now
        return True

    async def _sweep_now_and_then(self) -> None:
        if self._monotonic() < self._next_sweep:
            return
        self._next_sweep = self._monotonic() + SWEEP_EVERY_S
        expired = HandledEvent.seen_at < db_seconds(self._database.dialect) - self._keep_s
        try:
            async with self._database.transaction() as connection:
                await connection.execute(delete(HandledEvent).where(expired))
        except DatabaseUnavailableError as exc:
            log.debug("handled events: expired keys not swept (%s)", exc)
