"""How numbers look to users: money, tokens, and the footer naming who answered."""

from __future__ import annotations

from decimal import Decimal

from byok.answers import Answer
from byok.money import usd

__all__ = ["answer_footer", "money", "money_with_unpriced", "plural", "tokens"]


def money(value: Decimal | None) -> str:
    """``$0.00042`` below a cent, ``$12.34`` above; an unknown cost says so, never $0."""
    return usd(value)


def money_with_unpriced(cost: Decimal, unpriced: int) -> str:
    """A sum of known prices next to the requests whose price is unknown (never shown as $0)."""
    if unpriced and cost == 0:
        return "cost unknown"
    return money(cost) + (f" + {unpriced:,} with unknown price" if unpriced else "")


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def tokens(count: int) -> str:
    return f"{count:,}"


def answer_footer(answer: Answer) -> str:
    """``anthropic · claude-sonnet-4-5 · 1,200 in / 340 out tokens · $0.0087``."""
    usage = answer.usage
    parts = [
        answer.provider_id,
        answer.model,
        (
            f"{tokens(usage.input_tokens)} in / {tokens(usage.output_tokens)} out tokens"
            if usage.reported
            else "tokens not reported"
        ),
        money(answer.cost),
    ]
    if answer.key_source == "operator":
        parts.append("operator key")
    return " · ".join(parts)
