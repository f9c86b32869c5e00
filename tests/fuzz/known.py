"""Bugs the fuzz found that others are fixing, each detected live by a tiny probe.

While a probe still sees its bug, the generative tests skip (``assume``) inputs of that
class so CI stays green, and an explicit ``xfail`` test reproduces it. Once the bug is
fixed the probe turns False by itself: the generative tests enforce the class again and
the reproducer must pass. Delete an entry when its probe has been False for good.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.commands.ask import ASK_FLAGS, ASK_USAGE
from bot.commands.keys import parse_usd
from bot.grammar import CommandError, parse_flags

__all__ = [
    "NAN_TEMPERATURE",
    "THREAD_CONTEXT_DROPS_FLAGS",
    "TINY_LIMIT",
    "unicode_key_crash",
]


def _accepted(parse: Callable[[], object]) -> bool:
    try:
        parse()
    except CommandError:
        return False
    return True


#: bot/grammar.py parse_number: `--temperature nan` passes the range check (every
#: comparison with NaN is false) and reaches the provider.
NAN_TEMPERATURE = _accepted(lambda: parse_flags("--temperature nan x", ASK_FLAGS, usage=ASK_USAGE))

#: bot/commands/keys.py parse_usd: a limit under half a cent (`1e-400`, `0.004`) is
#: accepted and shown as $0.00 — the same mistake as a $0 limit.
TINY_LIMIT = _accepted(lambda: parse_usd("1e-400"))


def unicode_key_crash(records: Sequence[logging.LogRecord]) -> bool:
    """bot/commands/keys.py add_key: a key with a non-ASCII character (a zero-width space
    pasted along) reaches the provider SDK, whose header encoding raises
    UnicodeEncodeError at the dispatcher's boundary: "Something went wrong" instead of a
    refusal. True when that is the only problem among ``records``."""
    problems = [r for r in records if r.levelno >= logging.ERROR or r.exc_info]
    return bool(problems) and all(
        r.exc_info is not None and isinstance(r.exc_info[1], UnicodeEncodeError) for r in problems
    )


def _thread_context_drops_flags() -> bool:
    from adapters.slack.events import with_thread_context

    combined = with_thread_context("--max-tokens 5 max", ["earlier"])
    return parse_flags(combined, ASK_FLAGS, usage=ASK_USAGE).flags != {"max-tokens": 5}


#: adapters/slack/events.py with_thread_context: it finds the question's text with
#: ``str.find``, so a question whose text also occurs inside its flags (``--max-tokens 5
#: max``) loses or garbles its flags when earlier thread messages are added.
THREAD_CONTEXT_DROPS_FLAGS = _thread_context_drops_flags()
