"""Warnings about what strangers send, at most one per kind a minute.

Anyone who can reach the HTTP port can send malformed requests as fast as they like; each
deserves a line in the log, but a flood of them must not become a flood of lines. A
:class:`WarningThrottle` logs the first of each kind, then stays quiet for an interval and
says how many it left out when it speaks again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["WarningThrottle"]


class WarningThrottle:
    """Logs a WARNING per kind at most once every ``interval_s`` seconds.

    Kinds are names the code chooses (never request data), so there are few of them.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless a ``kind`` warning was logged lately; True if logged."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval_s:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return False
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        note = f" ({skipped} more like it since the last such warning)" if skipped else ""
        self._logger.warning(message + "%s", *args, note)
        return True
