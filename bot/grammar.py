"""Parsing command text: subcommands, ``--flags`` with typed values, and free text.

Flags are read at the start of the text (``/ask --provider grok why?``) and, for
known flag names only, at its end (``/ask why? --provider grok``); a ``--word`` in the
middle of a question is left alone, and ``--`` ends the flags. Mistakes raise
:class:`CommandError` with the closest valid spelling.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.bounds import MODEL_MAX_CHARS, readable_bound
from byok.errors import ByokError
from byok.remedies import Remedy

__all__ = [
    "CommandError",
    "Flag",
    "Parsed",
    "bounded_text",
    "check_model_name",
    "closest",
    "model_value",
    "no_value",
    "parse_flags",
    "parse_number",
    "shown",
    "text_value",
]


class CommandError(ByokError):
    """The command itself is wrong; the message says how to write it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, explanation=message)


def closest(word: str, options: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # without dashes, e.g. "max-tokens"
    parse: Callable[[str, str], Any]  # (flag name, raw) -> value; raises CommandError
    short: str | None = None
    help: str = ""
    #: A switch takes no value (``--fresh``): present, it reads True.
    switch: bool = False
    #: What it does for an error's advice (:mod:`byok.remedies`): hints to do that name it.
    remedy: type[Remedy] | None = None


def no_value(_name: str, _raw: str) -> bool:
    """The parse of a switch: it has no value to read."""
    return True


@dataclass(frozen=True, slots=True)
class Parsed:
    flags: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    # Where ``text`` sits in what was parsed: what lies outside it is the flags.
    span: tuple[int, int] = (0, 0)


def shown(raw: str, limit: int = 20) -> str:
    """What the user typed, cut short for a message (a pasted novel is not echoed)."""
    return raw if len(raw) <= limit else raw[:limit] + "…"


_WHOLE = re.compile(r"\s*[+-]?\d+\s*")


def _number(kind: type[int] | type[float], raw: str) -> float:
    if kind is int and _WHOLE.fullmatch(raw) and len(raw.strip()) > 30:
        # int() refuses more than 4,300 digits; any such number is out of range anyway.
        return -math.inf if raw.strip().startswith("-") else math.inf
    return kind(raw)


def parse_number(
    kind: type[int] | type[float], low: float | None = None, high: float | None = None
) -> Callable[[str, str], Any]:
    """A flag value of ``kind``, finite and within ``low``..``high`` (NaN is not)."""

    def parse(name: str, raw: str) -> int | float:
        try:
            value = _number(kind, raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise CommandError(f"`--{name}` needs {what}, not `{shown(raw)}`.") from None
        in_range = (
            math.isfinite(value)
            and (low is None or value >= low)
            and (high is None or value <= high)
        )
        if not in_range:
            raise CommandError(f"`--{name}` must be {_bounds(low, high)} (got {shown(raw)}).")
        return value

    return parse


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {readable_bound(low)} and {readable_bound(high)}"
    if low is not None:
        return f"at least {readable_bound(low)}"
    return f"at most {readable_bound(high)}" if high is not None else "a finite number"


def text_value(name: str, raw: str) -> str:
    return raw


def bounded_text(max_chars: int, hint: str = "") -> Callable[[str, str], str]:
    """A flag value of at most ``max_chars`` characters; ``hint`` ends the refusal."""

    def parse(name: str, raw: str) -> str:
        if len(raw) > max_chars:
            raise CommandError(
                f"`--{name}` is at most {max_chars} characters (got {len(raw)}){hint}."
            )
        return raw

    return parse


_CHECK_MODEL = ": check the model name"
#: ``--model``: a model name, as long as the usage table holds.
model_value = bounded_text(MODEL_MAX_CHARS, _CHECK_MODEL)


def check_model_name(name: str) -> str:
    """A model name typed outside a flag (preferences, allowed models), checked the same way."""
    if len(name) > MODEL_MAX_CHARS:
        raise CommandError(
            f"A model name is at most {MODEL_MAX_CHARS} characters (got {len(name)}){_CHECK_MODEL}."
        )
    return name


_TOKEN = re.compile(r"\S+")


@dataclass(slots=True)
class _Reading:
    """What :func:`parse_flags` reads: the flags it knows, the text's tokens, and the
    values found so far."""

    by_name: dict[str, Flag]
    by_short: dict[str, Flag]
    tokens: list[tuple[str, int, int]]
    usage: str
    values: dict[str, Any] = field(default_factory=dict)

    def take(self, token: str, position: int, strict: bool) -> int | None:
        """Consume the flag at ``position``; returns the next index or None if not a flag."""
        usage, values = self.usage, self.values
        name, _, inline = token.lstrip("-").partition("=")
        spec = self.by_name.get(name) if token.startswith("--") else self.by_short.get(name)
        if spec is None:
            if not strict:
                return None
            guess = closest(name, list(self.by_name))
            hint = f" Did you mean `--{guess}`?" if guess else ""
            raise CommandError(
                f"Unknown option `{token.split('=', maxsplit=1)[0]}`.{hint}\nUsage: {usage}"
            )
        if spec.switch and inline:
            raise CommandError(f"`--{spec.name}` takes no value.\nUsage: {usage}")
        if spec.switch:
            raw, after = "", position + 1
        elif inline:
            raw, after = inline, position + 1
        elif position + 1 < len(self.tokens):
            raw, after = self.tokens[position + 1][0], position + 2
        else:
            raise CommandError(f"`--{spec.name}` needs a value.\nUsage: {usage}")
        if spec.name in values:
            raise CommandError(f"`--{spec.name}` is given twice: keep one.\nUsage: {usage}")
        values[spec.name] = spec.parse(spec.name, raw)
        return after


def parse_flags(text: str, flags: Sequence[Flag], *, usage: str) -> Parsed:
    by_name = {f.name: f for f in flags}
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    reading = _Reading(by_name, {f.short: f for f in flags if f.short}, tokens, usage)
    values, take = reading.values, reading.take
    index = 0

    explicit_end = False
    while index < len(tokens):
        token = tokens[index][0]
        if token == "--":
            index += 1
            explicit_end = True
            break
        if not _looks_like_flag(token):
            break
        advanced = take(token, index, strict=True)
        assert advanced is not None
        index = advanced
    last = len(tokens)
    # Known flags may also close the text: "... --provider grok".
    while not explicit_end and last - index >= 2:
        if _is_switch(tokens[last - 1][0], by_name):
            take(tokens[last - 1][0], last - 1, strict=False)
            last -= 1
        elif _looks_like_flag(tokens[last - 1][0]) and "=" in tokens[last - 1][0]:
            if take(tokens[last - 1][0], last - 1, strict=False) is None:
                break
            last -= 1
        elif _looks_like_flag(tokens[last - 2][0]):
            if take(tokens[last - 2][0], last - 2, strict=False) is None:
                break
            last -= 2
        else:
            break
    start = tokens[index][1] if index < len(tokens) else len(text)
    end = tokens[last - 1][2] if last > index else start
    return Parsed(values, text[start:end], (start, end))


def _is_switch(token: str, by_name: dict[str, Flag]) -> bool:
    """``--fresh``: a known flag that takes no value."""
    spec = by_name.get(token[2:]) if token.startswith("--") else None
    return spec is not None and spec.switch


def _looks_like_flag(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and token != "--" and not _is_number(token)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
