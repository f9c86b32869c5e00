"""Bugs the fuzz found that others are fixing, each detected live by a tiny probe.

While a probe still sees its bug, the generative tests skip (``assume``) inputs of that
class so CI stays green, and an explicit ``xfail`` test reproduces it. Once the bug is
fixed the probe turns False by itself: the generative tests enforce the class again and
the reproducer must pass. Delete an entry when its probe has been False for good.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.commands.ask import ASK_FLAGS, ASK_USAGE
from bot.commands.keys import parse_usd
from bot.grammar import CommandError, parse_flags

__all__ = ["NAN_TEMPERATURE", "TINY_LIMIT", "non_ascii_key"]


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


def non_ascii_key(key: str, error: BaseException | None) -> bool:
    """bot/commands/keys.py add_key: a key with a non-ASCII character (a zero-width space
    pasted along) reaches the provider SDK, whose header encoding raises
    UnicodeEncodeError: the user sees "Something went wrong" instead of a refusal."""
    return isinstance(error, UnicodeEncodeError) and not key.isascii()
