"""Discord's identify rate limit, kept by every instance together.

Discord lets a bot start ``max_concurrency`` gateway sessions per 5 seconds, one per
bucket ``shard_id % max_concurrency`` (``GET /gateway/bot``'s ``session_start_limit``);
an IDENTIFY beyond that is answered with Invalid Session. Several instances connecting
their shards at once (a deploy, a take-over) would trip it, so each IDENTIFY first takes
its bucket's turn from a rate limit in the database. When the database cannot be asked,
the instance waits the interval on its own, as discord.py does.
"""

from __future__ import annotations

import asyncio
import logging

from byok.db.database import Database
from byok.errors import DatabaseUnavailableError
from byok.shared_rate import OutageLog, SharedBucket

__all__ = ["IDENTIFY_INTERVAL_S", "IdentifyGate"]

log = logging.getLogger(__name__)

#: Discord: one IDENTIFY per rate-limit bucket every 5 seconds.
IDENTIFY_INTERVAL_S = 5.0


class IdentifyGate:
    """Waits for an identify turn of the shard's bucket, across every instance."""

    def __init__(
        self, database: Database, max_concurrency: int, interval_s: float = IDENTIFY_INTERVAL_S
    ) -> None:
        self._buckets = max(1, max_concurrency)
        self._interval = interval_s
        self._shared = SharedBucket(
            database, "discord.identify", per_second=1.0 / interval_s, burst=1
        )
        self._outage = OutageLog(
            log, "discord identify turns", f"waiting {interval_s:.0f} s before each instead"
        )

    async def turn(self, shard_id: int | None) -> None:
        """Return when this shard may IDENTIFY."""
        bucket = str((shard_id or 0) % self._buckets)
        while True:
            try:
                taken = await self._shared.take(bucket)
            except DatabaseUnavailableError as exc:
                self._outage.failed(exc)
                await asyncio.sleep(self._interval)
                return
            self._outage.worked()
            if taken.allowed:
                return
            await asyncio.sleep(max(self._shared.wait_s(taken.ahead_s), 0.05))
