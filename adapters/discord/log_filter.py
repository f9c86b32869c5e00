"""Keeps Discord payloads out of discord.py's debug logs, on its own loggers too.

At DEBUG level discord.py logs every gateway event and every REST body it sends and
receives. Those can hold what users typed: a key entered in the modal, a key pasted
into a DM. The root handler of ``byok-bot`` takes the payload out of every library
record (:func:`bot.logs.strip_library_body`, where discord.py's lines are listed);
this filter does the same on discord.py's own loggers, for a process whose logging
``bot.logs`` did not set up (a handler added to those loggers sees clean records too).
"""

from __future__ import annotations

import logging

from bot.logs import strip_library_body

__all__ = ["PayloadFilter"]

_LOGGERS = ("discord.gateway", "discord.http", "discord.webhook.async_")


class PayloadFilter(logging.Filter):
    """Replaces the payload of discord.py's lines by a placeholder."""

    def filter(self, record: logging.LogRecord) -> bool:
        strip_library_body(record)
        return True

    def install(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self)
