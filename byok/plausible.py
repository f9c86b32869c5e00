"""What a provider's usage report may say and still be believed.

Every provider reads its wire usage through :class:`UsageReport`, so one rule decides
which figures are plausible:

- a token count is a non-negative ``int`` (never a bool, a float, NaN or text) of at most
  :data:`MAX_TOKENS_PER_CALL`;
- the cached parts of the input (cache reads and writes) are never larger than the input;
- a reported cost (OpenRouter's) is a finite, non-negative number (never a bool or text)
  of at most :data:`MAX_COST_PER_CALL` USD.

One implausible figure makes the whole report unknown: the tokens are not reported and
the cost is unknown (never $0), and :attr:`byok.types.Usage.implausible` names the wire
field so that the provider template can log it once, with the provider and model.

The output is not compared with the request's ``max_tokens``: providers count reasoning
and framing differently, and the ceiling already stops the absurd figures.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TypeGuard

from byok.types import Usage

__all__ = [
    "MAX_COST_PER_CALL",
    "MAX_TOKENS_PER_CALL",
    "UsageReport",
    "implausible_usage",
    "is_plausible_cost",
]

#: The largest context window offered today is 10M tokens; twice that in one call (input
#: or output) is a broken report, not a real call (2^31 and 2^40 have been seen).
MAX_TOKENS_PER_CALL = 20_000_000

#: No single call costs this much today (a full 2M-token prompt at the dearest published
#: prices is a few hundred dollars); a larger reported cost is a broken report.
MAX_COST_PER_CALL = Decimal(1000)


def implausible_usage(field: str) -> Usage:
    """A report that cannot be believed: tokens not reported, cost unknown."""
    return Usage(reported=False, implausible=field)


def is_plausible_cost(value: Decimal) -> bool:
    """A cost one call could really have had."""
    return value.is_finite() and 0 <= value <= MAX_COST_PER_CALL


class UsageReport:
    """Reads the figures of one usage report; the first implausible one is remembered.

    Each read returns a usable value (0 or None for an implausible figure) so that a
    provider's arithmetic on its wire convention stays simple; :meth:`usage` then
    returns the whole report as unknown if any figure was implausible.
    """

    def __init__(self) -> None:
        self._implausible: str | None = None

    def tokens(self, field: str, value: object) -> int:
        """``value`` of wire field ``field`` as a token count; an absent one (None) is 0."""
        if value is None:
            return 0
        if _is_int(value) and 0 <= value <= MAX_TOKENS_PER_CALL:
            return value
        self._note(field)
        return 0

    def cost(self, field: str, value: object) -> Decimal | None:
        """``value`` of wire field ``field`` as USD; an absent one (None) is unknown."""
        if value is None:
            return None
        if (isinstance(value, float) and math.isfinite(value)) or _is_int(value):
            # str() first: Decimal(0.00085375) would carry binary float noise.
            amount = Decimal(str(value))
            if is_plausible_cost(amount):
                return amount
        self._note(field)
        return None

    def usage(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        reported_cost: Decimal | None = None,
    ) -> Usage:
        """The report as a :class:`Usage`, or as unknown if any figure was implausible.

        The counts are in :class:`Usage`'s convention (input includes cached input,
        output includes reasoning), after the provider's own arithmetic.
        """
        if cached_input_tokens + cache_write_tokens > input_tokens:
            self._note("cached input tokens (more than the input)")
        if max(input_tokens, output_tokens) > MAX_TOKENS_PER_CALL:
            self._note("input or output tokens (their sum)")
        if self._implausible is not None:
            return implausible_usage(self._implausible)
        return Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
            reported_cost=reported_cost,
        )

    def _note(self, field: str) -> None:
        if self._implausible is None:
            self._implausible = field


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
