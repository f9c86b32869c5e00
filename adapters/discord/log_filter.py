"""Keeps Discord payloads out of discord.py's debug logs.

At DEBUG level discord.py logs every gateway event and every REST body it sends and
receives. Those can hold what users typed: a key entered in the modal, a key pasted
into a DM. This filter keeps the event's name and the request line and drops the
payload, on the three loggers that print them.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["PayloadFilter"]

_LOGGERS = ("discord.gateway", "discord.http", "discord.webhook.async_")
# discord.py's own format strings and the position of the payload in their arguments.
_PAYLOAD_ARG = {
    "For Shard ID %s: WebSocket Event: %s": 1,
    "%s %s with %s has returned %s": 2,
    "%s %s has received %s": 2,
}


def _summary(payload: Any) -> str:
    if isinstance(payload, dict):
        kept = {k: payload[k] for k in ("op", "t", "s") if k in payload}
        return f"<payload {kept or 'omitted'}>"
    return "<payload omitted>" if payload else "<empty>"


class PayloadFilter(logging.Filter):
    """Replaces the payload argument of discord.py's debug lines with a summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        position = _PAYLOAD_ARG.get(str(record.msg))
        if position is not None and isinstance(record.args, tuple) and len(record.args) > position:
            args = list(record.args)
            args[position] = _summary(args[position])
            record.args = tuple(args)
        return True

    def install(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self)
