"""Parsing command text: subcommands, ``--flags`` with typed values, and free text.

Flags are read at the start of the text (``/ask --provider grok why?``) and, for
known flag names only, at its end (``/ask why? --provider grok``); a ``--word`` in the
middle of a question is left alone, and ``--`` ends the flags. Mistakes raise
:class:`CommandError` with the closest valid spelling.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from byok.errors import ByokError

__all__ = ["CommandError", "Flag", "Parsed", "closest", "parse_flags", "parse_number", "text_value"]


class CommandError(ByokError):
    """The command itself is wrong; the message says how to write it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, user_message=message)


def closest(word: str, options: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # without dashes, e.g. "max-tokens"
    parse: Callable[[str, str], Any]  # (flag name, raw) -> value; raises CommandError
    short: str | None = None
    help: str = ""


@dataclass(frozen=True, slots=True)
class Parsed:
    flags: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def parse_number(
    kind: type[int] | type[float], low: float | None = None, high: float | None = None
) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise CommandError(f"`--{name}` needs {what}, not `{raw}`.") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise CommandError(f"`--{name}` must be {bounds} (got {raw}).")
        return value

    return parse


def text_value(name: str, raw: str) -> str:
    return raw


_TOKEN = re.compile(r"\S+")


def parse_flags(text: str, flags: Sequence[Flag], *, usage: str) -> Parsed:
    by_name = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    values: dict[str, Any] = {}
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    index = 0

    def take(token: str, position: int, strict: bool) -> int | None:
        """Consume the flag at ``position``; returns the next index or None if not a flag."""
        name, _, inline = token.lstrip("-").partition("=")
        spec = by_name.get(name) if token.startswith("--") else by_short.get(name)
        if spec is None:
            if not strict:
                return None
            guess = closest(name, list(by_name))
            hint = f" Did you mean `--{guess}`?" if guess else ""
            raise CommandError(
                f"Unknown option `{token.split('=', maxsplit=1)[0]}`.{hint}\nUsage: {usage}"
            )
        if inline:
            raw, after = inline, position + 1
        elif position + 1 < len(tokens):
            raw, after = tokens[position + 1][0], position + 2
        else:
            raise CommandError(f"`--{spec.name}` needs a value.\nUsage: {usage}")
        if spec.name in values:
            raise CommandError(f"`--{spec.name}` is given twice: keep one.\nUsage: {usage}")
        values[spec.name] = spec.parse(spec.name, raw)
        return after

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
        if _looks_like_flag(tokens[last - 1][0]) and "=" in tokens[last - 1][0]:
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
    return Parsed(values, text[start:end].strip())


def _looks_like_flag(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and token != "--" and not _is_number(token)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
