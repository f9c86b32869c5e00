"""How numbers look to users: money, tokens, and the footer naming who answered.

Every surface (console, Slack, Discord, digest, chart) formats money here, through
:func:`byok.money.usd`: an unknown amount reads ``unknown``, never ``$0.00``, and a
sum that leaves out requests of unknown price says how many it left out.
"""

from __future__ import annotations

from decimal import Decimal

from bot.provider_names import ProviderNames
from byok.answers import Answer
from byok.money import UNKNOWN, usd

__all__ = [
    "UNKNOWN",
    "age",
    "answer_footer",
    "cost_text",
    "limit_spend",
    "money",
    "plural",
    "saving_note",
    "spend",
    "token_counts",
    "tokens",
]


def money(value: Decimal | None) -> str:
    """``$12.34``, ``$0.0123``, ``$0.00042``; an unknown amount is ``unknown``, never $0."""
    return usd(value)


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def tokens(count: int) -> str:
    return f"{count:,}"


def token_counts(input_tokens: int, output_tokens: int, cached: int = 0) -> str:
    """``1,200 in / 340 out tokens``; with input read from a provider's prompt cache,
    ``1,200 in (1,000 cached) / 340 out tokens``."""
    read = f" ({tokens(cached)} cached)" if cached else ""
    return f"{tokens(input_tokens)} in{read} / {tokens(output_tokens)} out tokens"


def saving_note(saved: Decimal | None) -> str:
    """`` (saved $0.0027)`` after a cost that prompt caching made smaller; nothing when
    nothing was saved or the saving is unknown (no saving is claimed on a guess)."""
    return f" (saved {money(saved)})" if saved else ""


def _unknown_part(unpriced: int) -> str:
    return f"{plural(unpriced, 'request')} of unknown cost"


def spend(cost: Decimal | None, unpriced: int = 0) -> str:
    """A sum of known prices and the requests it leaves out because their price is unknown.

    ``$1.23``; ``$1.23 + 2 requests of unknown cost``; ``unknown`` when no price is known.
    """
    if cost is None or (unpriced and cost == 0):
        return UNKNOWN
    return money(cost) + (f" + {_unknown_part(unpriced)}" if unpriced else "")


def cost_text(cost: Decimal | None, unpriced: int = 0) -> str:
    """:func:`spend` where no label names the figure: ``cost unknown``, not a bare ``unknown``."""
    text = spend(cost, unpriced)
    return f"cost {text}" if text == UNKNOWN else text


def limit_spend(spent: Decimal, limit: Decimal | None, unpriced: int = 0) -> str:
    """Month-to-date spend on a key, against its monthly limit when it has one.

    ``$0.85 of $10.00 (8%)``, ``$0.85 of $10.00 (8%) + 1 request of unknown cost``,
    ``unknown (2 requests of unknown cost), limit $10.00``, ``$0.14, no monthly limit``.
    """
    if limit is None:
        return f"{spend(spent, unpriced)}, no monthly limit"
    if unpriced and spent == 0:
        return f"{UNKNOWN} ({_unknown_part(unpriced)}), limit {money(limit)}"
    share = f" ({spent * 100 / limit:.0f}%)" if limit > 0 else ""
    text = f"{money(spent)} of {money(limit)}{share}"
    return text + (f" + {_unknown_part(unpriced)}" if unpriced else "")


def age(seconds: float) -> str:
    """``just now``, ``12 min ago``, ``3 h ago``, ``2 d ago``."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86_400)} d ago"


def answer_footer(answer: Answer, names: ProviderNames) -> str:
    """``Anthropic · claude-sonnet-4-5 · 1,200 in / 340 out tokens · $0.0087``; with input
    read from the provider's prompt cache ``… · 1,200 in (1,000 cached) / 340 out tokens ·
    $0.0021 (saved $0.0027)``; from the response cache: ``Anthropic · claude-sonnet-4-5 ·
    cached · from 3 h ago · saved $0.0012 · --fresh to ask again`` (``saved unknown`` when
    the original's price was)."""
    cached = answer.from_cache
    if cached is not None:
        when = age(cached.age_s)
        return " · ".join(
            [
                names.label(answer.provider_id),
                answer.model,
                "cached",
                when if when == "just now" else f"from {when}",
                f"saved {money(cached.saved)}",
                "--fresh to ask again",
            ]
        )
    usage = answer.usage
    parts = [
        names.label(answer.provider_id),
        answer.model,
        (
            token_counts(usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)
            if usage.reported
            else "tokens not reported"
        ),
        cost_text(answer.cost) + saving_note(answer.cache_saved),
    ]
    if answer.key_source == "operator":
        parts.append("operator key")
    return " · ".join(parts)
