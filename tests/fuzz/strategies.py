"""Hostile input for the fuzz tier: text, command lines and JSON shaped like the platforms'.

Text draws from everything a user can type or paste — control and zero-width characters,
right-to-left marks, other scripts, very long words — mixed with the tokens the bot's
grammar gives meaning to (flags, subcommands, provider names) and number-like strings
that break naive parsing (``nan``, ``inf``, ``1e309``, ``-0``, ints past 64 bits).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = [
    "FLAG_NAMES",
    "PROVIDER_WORDS",
    "command_text",
    "hostile_text",
    "json_like",
    "numberish",
    "shaped",
    "word",
]

#: Characters that have broken parsers and HTTP headers: NUL, controls, zero-width and
#: direction marks, a BOM, line/paragraph separators, non-Latin letters, an emoji.
ODD_CHARACTERS = (
    "\x00\t\n\r\x0b\x0c\x1b\x7f\x85\xa0\u200b\u200c\u200d\u2028\u2029\u202e\u2066\ufeff"
    "ßéÅ日本語ﬁ𝔘😀\u0301"
)

NUMBERISH = (
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-400", "1e20",
    "-0", "0", "0.0", "-0.0", "00", "1_000", "0x10", "1.", ".5", "+1", "-1", "2.0000001",
    "99999999999", "9223372036854775808", "-9223372036854775809", str(2**31), str(2**63),
    "١٢٣", "½", "12.50", "$12", "$", "5$", "1,000", "off", "none",
)  # fmt: skip

FLAG_NAMES = (
    "--provider", "--model", "--max-tokens", "--temperature", "--label", "--limit",
    "--models", "--file", "-p", "-m", "-t", "--", "-", "---", "--max-tokens=",
    "--temperature=nan", "--max-tokens=1e309", "--provider=", "--=",
)  # fmt: skip

PROVIDER_WORDS = (
    "openai", "anthropic", "google", "gemini", "xai", "grok", "openrouter", "claude",
    "OpenAI", "mistral", "off", "none", "", "provider-" + "x" * 100,
)  # fmt: skip

_GRAMMAR_WORDS = (
    "add", "list", "ls", "remove", "rm", "test", "enable", "disable", "limit", "models",
    "default", "fallback", "prefs", "model", "auto-switch", "max-tokens", "history",
    "quota-notices", "digest", "empty-digest", "cost-optimization", "on", "off", "all",
    "week", "month", "help", "ask", "byok", "usage", "summarize", "gpt-4o", "claude-3-haiku",
    "openai/gpt-4o-mini", "Alice:", "Bob:", "WEBVTT", "00:00:01.000 --> 00:00:02.000",
)  # fmt: skip

_alphabet = st.one_of(
    st.characters(codec="utf-8"),  # no surrogates: not UTF-8
    st.sampled_from(ODD_CHARACTERS),
)

numberish = st.one_of(
    st.sampled_from(NUMBERISH),
    st.integers().map(str),
    st.integers(20, 5000).map(lambda n: "9" * n),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)

word = st.one_of(
    st.sampled_from(_GRAMMAR_WORDS),
    st.sampled_from(PROVIDER_WORDS),
    st.sampled_from(FLAG_NAMES),
    numberish,
    st.text(_alphabet, min_size=1, max_size=12),
    st.builds(lambda flag, value: f"{flag}={value}", st.sampled_from(FLAG_NAMES), numberish),
)

_separator = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\u3000", "\xa0", " \u200b "])


@st.composite
def command_text(draw: st.DrawFn, max_words: int = 8) -> str:
    """What follows a command name: grammar words, flags, numbers and junk, spaced oddly."""
    words = draw(st.lists(word, max_size=max_words))
    out = ""
    for item in words:
        out += item + draw(_separator)
    if draw(st.booleans()):
        out = draw(_separator) + out
    return out.rstrip() if draw(st.booleans()) else out


#: Any text at all, command-shaped or not, now and then very long.
hostile_text = st.one_of(
    command_text(),
    st.text(_alphabet, max_size=60),
    st.builds(lambda w, n: (w + " ") * n, word, st.integers(1, 400)),
    st.builds(lambda c, n: c * n, st.sampled_from("x-\u200b 9"), st.integers(1, 20_000)),
)

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(_alphabet, max_size=20),
    numberish,
)

#: Any JSON value (no NaN: it is not JSON), nested a few levels deep.
json_like: st.SearchStrategy[Any] = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(_alphabet, max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)


def shaped(strategy: st.SearchStrategy[Any], *, missing: bool = True) -> st.SearchStrategy[Any]:
    """Usually ``strategy`` (a well-formed field), sometimes any JSON value in its place.

    With ``missing``, the field may also be left out (see :func:`drop_missing`).
    """
    options = [strategy, strategy, strategy, json_like]
    if missing:
        options.append(st.just(MISSING))
    return st.one_of(*options)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def drop_missing(value: Any) -> Any:
    """``value`` with every field drawn as MISSING left out, at any depth."""
    if isinstance(value, dict):
        return {k: drop_missing(v) for k, v in value.items() if v is not MISSING}
    if isinstance(value, list):
        return [drop_missing(v) for v in value if v is not MISSING]
    return value
