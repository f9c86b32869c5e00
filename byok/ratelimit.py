"""Per-user request rate limit: ``per_minute`` requests a minute, bursts up to that many.

:func:`request_limiter` picks where the buckets live. On PostgreSQL, where several
instances may run, they live in the database (:class:`SharedRequestLimiter`), so N
instances still allow each user ``per_minute``, not N times as many. On SQLite one ``run``
owns the file, and a write per question on SQLite's single writer would cost every answer
latency, so they live in this process (:class:`RequestRateLimiter`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from byok.db.database import Database
from byok.errors import DatabaseUnavailableError, RequestRateLimitError
from byok.shared_rate import OutageLog, SharedBucket
from byok.types import UserRef

__all__ = ["RequestLimiter", "RequestRateLimiter", "SharedRequestLimiter", "request_limiter"]

log = logging.getLogger(__name__)

_SWEEP_AT = 10_000  # buckets kept before idle (full) ones are dropped


class RequestLimiter(Protocol):
    #: Whether a check is a database round trip (or is made in this process).
    in_database: bool

    async def acquire(self, user: UserRef) -> None:
        """Take one request from the user's allowance or raise RequestRateLimitError."""


def request_limiter(
    database: Database, per_minute: int, monotonic: Callable[[], float] = time.monotonic
) -> RequestLimiter:
    """The limiter for ``database``: shared through it on PostgreSQL, in-process on SQLite."""
    if database.dialect == "postgresql":
        return SharedRequestLimiter(database, per_minute, monotonic)
    return RequestRateLimiter(per_minute, monotonic)


class RequestRateLimiter:
    """A token bucket per user, in this process."""

    in_database = False

    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._now = monotonic
        self._buckets: dict[UserRef, tuple[float, float]] = {}

    async def acquire(self, user: UserRef) -> None:
        """Take one request from the user's bucket or raise RequestRateLimitError."""
        now = self._now()
        tokens, stamp = self._buckets.get(user, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
        if tokens < 1.0:
            self._buckets[user] = (tokens, now)
            raise RequestRateLimitError((1.0 - tokens) / self._rate)
        self._buckets[user] = (tokens - 1.0, now)
        if len(self._buckets) > _SWEEP_AT:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        full_after = self._capacity / self._rate
        self._buckets = {
            user: (tokens, stamp)
            for user, (tokens, stamp) in self._buckets.items()
            if now - stamp < full_after
        }


class SharedRequestLimiter:
    """Each user's bucket in the database (scope ``ask``), shared by every instance.

    While the database cannot be reached the request is allowed, with one WARNING per
    outage: refusing would turn an outage into "you are sending requests quickly", and
    what guards money, the monthly spend limit, is enforced in the database anyway (the
    request fails there, clearly, if the outage lasts).
    """

    in_database = True

    def __init__(
        self, database: Database, per_minute: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._bucket = SharedBucket(
            database, "ask", per_second=per_minute / 60.0, burst=per_minute, monotonic=monotonic
        )
        self._outage = OutageLog(
            log, "shared request rate limit", "requests are allowed unchecked until it is back"
        )

    async def acquire(self, user: UserRef) -> None:
        """Take one request from the user's shared bucket or raise RequestRateLimitError."""
        try:
            taken = await self._bucket.take(str(user))
        except DatabaseUnavailableError as exc:
            self._outage.failed(exc)
            return
        self._outage.worked()
        if not taken.allowed:
            raise RequestRateLimitError(max(self._bucket.wait_s(taken.ahead_s), 0.001))
