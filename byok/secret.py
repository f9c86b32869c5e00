"""Secrets in memory: a wrapper whose repr is masked, and a redactor for text and logs.

A plaintext key lives only inside a :class:`Secret`. It prints as ``sk-…a1b2`` in
reprs, f-strings and tracebacks; the one way to read it is :meth:`Secret.reveal`,
called at the moment a header is built.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["RedactingFilter", "Secret", "key_vendor", "looks_like_key", "mask", "redact"]

# Shapes of provider keys and platform tokens. Order matters: longer prefixes first.
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"sk-or-(?:v1-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"xai-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"xox[abposr]-[0-9A-Za-z\-]{10,}"),
    re.compile(r"xapp-[0-9A-Za-z\-]{10,}"),
    # Discord bot tokens: base64 user id . timestamp . hmac
    re.compile(r"[MNO][A-Za-z\d_\-]{23,25}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,}"),
)

_MASK = "[redacted]"

# Every OpenAI secret key carries "T3BlbkFJ" (base64 of "OpenAI") in its middle.
_OPENAI_MARK = "T3BlbkFJ"
# Prefixes only one provider issues (a bare "sk-" is not one: several use it).
_VENDOR_PREFIXES = (
    ("sk-ant-", "anthropic"),
    ("sk-or-", "openrouter"),
    ("sk-proj-", "openai"),
    ("sk-svcacct-", "openai"),
    ("sk-admin-", "openai"),
    ("xai-", "xai"),
    ("AIza", "google"),
)


def mask(value: str) -> str:
    """Show a key as its prefix and last four characters: ``sk-…a1b2``."""
    if len(value) <= 8:
        return "…" + value[-2:] if len(value) > 4 else "…"
    prefix = value.split("-", 1)[0] + "-" if "-" in value[:8] else value[:2]
    return f"{prefix}…{value[-4:]}"


class Secret:
    """A string that never shows itself by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.strip()

    def reveal(self) -> str:
        """The plaintext, for building a request header and nothing else."""
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:]

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled")


def looks_like_key(text: str) -> bool:
    """True when the text holds something shaped like a provider key or platform token."""
    return any(p.search(text) for p in _SECRET_PATTERNS)


def key_vendor(key: Secret) -> tuple[str, str] | None:
    """(provider id, prefix) when the key's prefix is one only that provider issues."""
    value = key.reveal()
    found = next(((pid, p) for p, pid in _VENDOR_PREFIXES if value.startswith(p)), None)
    if found is None and value.startswith("sk-") and _OPENAI_MARK in value:
        return "openai", "sk-"  # a legacy OpenAI key: plain "sk-", with OpenAI's mark inside
    return found


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Mask every key-shaped string and every literal secret in ``extra``."""
    for literal in extra:
        if literal and len(literal) >= 6:
            text = text.replace(literal, _MASK)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and exception text.

    Literal secrets (the master key, configured tokens) are registered with
    :meth:`add_literal`; key-shaped strings are caught by pattern.
    """

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        self._literals: set[str] = {s for s in literals if s}

    def add_literal(self, value: str) -> None:
        if value:
            self._literals.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message, self._literals)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so formatters reuse the clean text.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info), self._literals)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._literals)
        return True
