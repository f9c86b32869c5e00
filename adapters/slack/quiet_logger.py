"""Loggers for slack-sdk clients that never print request or response payloads."""

from __future__ import annotations

import logging

__all__ = ["quiet_logger"]


class _NoPayloads(logging.Filter):
    """Drops DEBUG records: slack-sdk logs whole request and response bodies there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def quiet_logger(name: str) -> logging.Logger:
    """A logger for slack-sdk clients that never prints payloads.

    Payloads hold what users type and paste (forms, thread messages), which may include
    a key; no log level should put them in a log file.
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, _NoPayloads) for f in logger.filters):
        logger.addFilter(_NoPayloads())
    return logger
