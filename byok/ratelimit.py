"""Per-user request rate limit: a token bucket per user, in this process."""

from __future__ import annotations

import time
from collections.abc import Callable

from byok.errors import RequestRateLimitError
from byok.types import UserRef

__all__ = ["RequestRateLimiter"]

_SWEEP_AT = 10_000  # buckets kept before idle (full) ones are dropped


class RequestRateLimiter:
    """Allows ``per_minute`` requests a minute per user, with bursts up to that many."""

    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._now = monotonic
        self._buckets: dict[UserRef, tuple[float, float]] = {}

    def acquire(self, user: UserRef) -> None:
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
