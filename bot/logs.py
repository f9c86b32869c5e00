"""Logging: readable text or one JSON object a line, always through the redaction filter.

The filter sits on the one root handler, and no library logger has a handler of its
own (:data:`LIBRARY_LOGGERS`), so every record from every library — provider SDKs,
slack-sdk and slack-bolt, discord.py, aiohttp, httpx — is masked before it is written.
Warnings, uncaught exceptions and the exceptions Python can only report ("Exception
ignored in …") go through logging too, so nothing reaches the output unmasked or, in
JSON mode, as a line that is not JSON.

The same filter first takes out of library records the request and response bodies
they carry (:func:`strip_library_body`), at every level: a body can hold a key typed in
a form — even one whose request is refused before the bot reads it, which slack-bolt
logs whole when its signature check fails — and that key may be one the process has
never met, so no redaction could know it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import Config
from byok.secret import RedactingFilter, redact

__all__ = [
    "LIBRARY_LOGGERS",
    "JsonFormatter",
    "LogRedactor",
    "config_secrets",
    "configure_logging",
    "strip_library_body",
]

# Set on a record once its library body is taken out (not a field worth logging).
_STRIPPED = "byok_body_stripped"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    _STRIPPED,
}

#: Third-party loggers that carry requests, responses and errors of the platforms and
#: providers. None of them has a handler of its own: their records reach the root one.
LIBRARY_LOGGERS = (
    "slack_sdk",
    "slack_bolt",
    "discord",
    "aiohttp",
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "openai",
    "anthropic",
    "google_genai",
    "sqlalchemy",
    "asyncpg",
    "alembic",
    "apscheduler",
    "asyncio",
)
# Libraries that log every request or statement at DEBUG/INFO stay at WARNING, whatever
# the level: their lines carry full URLs, headers and SQL parameters, and drown the rest.
_NOISY = (
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "aiohttp.access",
    "aiosqlite",
    "discord.gateway",
    "alembic",
    "apscheduler",  # "Added job", "Scheduler started": our own start-up line says it
)

_log = logging.getLogger("byok")

_OMITTED = "<body omitted>"
# Records logged from these folders are ours; any other is a library's.
_OWN_CODE = tuple(
    f"{Path(__file__).parents[1] / package}{os.sep}" for package in ("byok", "bot", "adapters")
)
_ALL = re.compile(r"(?P<body>.+)", re.DOTALL)
#: Library lines that carry a body, by the start of their message; the pattern finds
#: the body (group "body") in the rest, and what it leaves is kept. Where a library
#: rewords a line and the pattern no longer matches, all of the rest goes.
_BODY_LINES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # slack-bolt: a request failing the signature check (INFO), the acknowledgement it
    # sends, a Socket Mode envelope it could not handle, a self event it skips
    ("Invalid request signature detected (", re.compile(r", body: (?P<body>.*)\)\Z", re.S)),
    ("Responding with status: ", re.compile(r" body: (?P<body>.*) \(\d+ millis\)\Z", re.S)),
    ("Unsuccessful Bolt execution result (", re.compile(r", body: (?P<body>.*)\)\Z", re.S)),
    ("Skipped self event: ", _ALL),
    # slack-sdk: Web API requests and answers, Socket Mode messages, chat streams
    ("Sending a request - url: ", re.compile(r"^\S+ \S+, (?P<body>.*)\Z", re.S)),
    ("Received the following response - ", re.compile(r"^status: \d+, (?P<body>.*)\Z", re.S)),
    ("Received message (", re.compile(r"data: (?P<body>.*), session: [^ ]*\)\Z", re.S)),
    ("Sending a message: ", re.compile(r"^(?P<body>.*) from session: \S*\Z", re.S)),
    ("on_message invoked: ", _ALL),
    ("ChatStream appended to buffer: ", _ALL),
    # provider SDKs: a request's options (its JSON body), a stream chunk not decoded
    ("Request options: ", _ALL),
    ("Failed to decode chunk that contains an error: ", _ALL),
    ("Cannot determine the models type for response: ", _ALL),
)
_BODY_STARTS = tuple(start for start, _ in _BODY_LINES)
#: discord.py's %-style lines and the position of the payload among their arguments;
#: a gateway event keeps its opcode, name and sequence number.
_BODY_ARGUMENT = {
    "For Shard ID %s: WebSocket Event: %s": 1,
    "%s %s with %s has returned %s": 2,
    "%s %s has received %s": 2,
}
# Any other library line: what follows one of these words and ":" or "=" is dropped.
_BODY_WORDS = ("body", "payload", "data", "json")
_BODY_MARKER = re.compile(rf"\b(?:{'|'.join(_BODY_WORDS)})\s*[:=]\s*", re.IGNORECASE)


def strip_library_body(record: logging.LogRecord) -> None:
    """Replace the request or response body a library record carries by a placeholder.

    Records logged by our own code are left alone: they never hold a body. A record is
    stripped once, whichever filter sees it first (discord.py's own loggers have one too).
    """
    if record.pathname.startswith(_OWN_CODE) or getattr(record, _STRIPPED, False):
        return
    setattr(record, _STRIPPED, True)
    position = _BODY_ARGUMENT.get(record.msg) if isinstance(record.msg, str) else None
    if position is not None and isinstance(record.args, tuple) and len(record.args) > position:
        summary = _gateway_summary(record.args[position])
        record.args = (*record.args[:position], summary, *record.args[position + 1 :])
        return
    record.msg, record.args = _without_body(record.getMessage()), None  # rendered once


def _gateway_summary(payload: object) -> str:
    kept = (
        {k: payload[k] for k in ("op", "t", "s") if k in payload}
        if isinstance(payload, dict)
        else {}
    )
    return f"<body omitted; {kept}>" if kept else _OMITTED


def _without_body(message: str) -> str:
    if message.startswith(_BODY_STARTS):
        start, pattern = next((s, p) for s, p in _BODY_LINES if message.startswith(s))
        rest = message[len(start) :]
        found = pattern.search(rest)
        if found is None:
            return start + _OMITTED
        return f"{start}{rest[: found.start('body')]}{_OMITTED}{rest[found.end('body') :]}"
    lowered = message.lower()
    if not any(word in lowered for word in _BODY_WORDS):  # cheaper than the search below
        return message
    marker = _BODY_MARKER.search(message)
    return message[: marker.end()] + _OMITTED if marker else message


def _without_voice_notice(record: logging.LogRecord) -> bool:
    """discord.py warns at every start that PyNaCl (voice) is missing; the bot has no voice."""
    return not str(record.msg).startswith("PyNaCl is not installed")


class LogRedactor(RedactingFilter):
    """The engine's redacting filter, after the library bodies are taken out, extended
    to the extra fields of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        strip_library_body(record)
        super().filter(record)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                record.__dict__[key] = redact(value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        entry.update(
            {k: v if isinstance(v, int | float | bool) else str(v) for k, v in extra.items()}
        )
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def _uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    _log.critical("uncaught %s", kind.__name__, exc_info=(kind, value, tb))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _log.critical(
            "uncaught %s in thread %s",
            args.exc_type.__name__,
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )


def _unraisable(unraisable: Any) -> None:
    value = unraisable.exc_value
    where = unraisable.err_msg or "Exception ignored in"
    _log.warning(
        "%s: %r",
        where,
        unraisable.object,
        exc_info=(type(value), value, unraisable.exc_traceback) if value is not None else None,
    )


def config_secrets(config: Config) -> list[str]:
    """Every literal secret the configuration holds, for :func:`configure_logging`.

    Every ``SecretStr`` setting wherever it sits (tokens, signing and client secrets,
    operator keys, the master key or password, current and previous: a setting added
    later is masked the moment it is declared a ``SecretStr``) and the database URL's
    password: values that need not look like any key, so no pattern would catch them.
    """
    literals = [secret.get_secret_value() for secret in _secret_settings(config)]
    try:
        password = make_url(config.database.url).password
    except ArgumentError:
        password = None
    if password:
        literals.append(str(password))
    return literals


def _secret_settings(value: object) -> Iterator[SecretStr]:
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_settings(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_settings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secret_settings(item)


def configure_logging(
    level: str,
    style: Literal["text", "json"],
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> RedactingFilter:
    """Replace the root handlers with one redacting handler; returns its filter.

    Meant for the ``byok-bot`` process: it also routes warnings and uncaught exceptions
    through logging, process-wide.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    redactor = LogRedactor(secrets)
    handler.addFilter(redactor)
    handler.setFormatter(
        JsonFormatter()
        if style == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, numeric))
    logging.getLogger("discord.client").addFilter(_without_voice_notice)
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    sys.unraisablehook = _unraisable
    return redactor
