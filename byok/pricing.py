"""Prices from the ``genai-prices`` package, as Decimal USD; unknown stays unknown.

No price table is written here: a model genai-prices does not know has no price,
and callers show it as unknown (never as free).

Cached input (provider-side prompt caching) is priced at the model's own cache prices:
tokens read from a cache at its cache-read price, tokens written to one at its
cache-write price. genai-prices bills cached tokens of a model whose cache price it does
not know at the full input price, which is a guess (a cache write costs more than input
at Anthropic, a read less everywhere): such a call's cost is unknown instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from byok.images import image_tokens
from byok.plausible import is_plausible_cost
from byok.providers.builtins import BUILTIN_RECORDS, builtin_record
from byok.types import ChatMessage, Usage

__all__ = ["cache_saving", "estimate_input_tokens", "price_of", "worst_case_cost"]

# Per-message framing the providers add around content (role markers, separators).
_MESSAGE_OVERHEAD_TOKENS = 4


def estimate_input_tokens(
    messages: Sequence[ChatMessage], provider_id: str | None = None, model: str = ""
) -> int:
    """A deliberately high estimate for worst-case cost checks.

    English runs at about four characters a token; three are counted. Other scripts
    run at one to two tokens a character (CJK, emoji), so each non-ASCII character
    counts as two: assuming three characters a token there would undercount 3-6x.

    Each image counts as the most tokens ``provider_id`` bills for it (its documented
    formula, :func:`byok.images.image_tokens`); with no provider named, the most any
    built-in provider's model would.
    """
    text = sum(_content_tokens(m.content) + _MESSAGE_OVERHEAD_TOKENS for m in messages)
    images = sum(
        _image_tokens(provider_id, model, i.width, i.height) for m in messages for i in m.images
    )
    return text + images + _MESSAGE_OVERHEAD_TOKENS


def _image_tokens(provider_id: str | None, model: str, width: int, height: int) -> int:
    if provider_id is not None:
        return image_tokens(provider_id, model, width, height)
    return max(
        image_tokens(p, record.default_model, width, height)
        for p, record in ((r.provider_id, r) for r in BUILTIN_RECORDS)
    )


def _content_tokens(text: str) -> int:
    if text.isascii():
        return math.ceil(len(text) / 3)
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 3) + 2 * (len(text) - ascii_chars)


@lru_cache(maxsize=1024)
def _price(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached: int,
    cache_write: int,
) -> Decimal | None:
    try:
        calculation = calc_price(
            PriceUsage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cached,
                cache_write_tokens=cache_write,
            ),
            model_ref=model,
            provider_id=provider,
        )
    except LookupError:
        return None
    prices = calculation.model_price
    if (cached and prices.cache_read_mtok is None) or (
        cache_write and prices.cache_write_mtok is None
    ):
        return None
    return Decimal(calculation.total_price)


def price_of(provider_id: str, model: str, usage: Usage) -> Decimal | None:
    """The cost of one call in USD, or None when the price is unknown.

    A cost the provider reported itself (OpenRouter) wins over the price list. Usage that
    was not reported, or could not be believed (:mod:`byok.plausible`), has no price.
    """
    if not usage.reported:
        return None
    if usage.reported_cost is not None:
        return usage.reported_cost if is_plausible_cost(usage.reported_cost) else None
    # Operator-added OpenAI-compatible endpoints have no prices.
    record = builtin_record(provider_id)
    if record is None or record.price_id is None:
        return None
    return _price(
        record.price_id,
        model,
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_input_tokens,
        usage.cache_write_tokens,
    )


def cache_saving(provider_id: str, model: str, usage: Usage) -> Decimal | None:
    """What reading cached input saved on one call, in USD: the full input price of the
    tokens read from the provider's prompt cache less their cache-read price.

    0 when nothing was read from a cache; None when that is not known (usage unknown, a
    model or cache price the price list lacks). Taken from the price list even where the
    provider stated the call's cost itself (OpenRouter). What writing to the cache cost
    more than plain input is in the call's cost, not taken off its saving.
    """
    if not usage.reported:
        return None
    if usage.cached_input_tokens == 0:
        return Decimal(0)
    record = builtin_record(provider_id)
    if record is None or record.price_id is None:
        return None
    args = (record.price_id, model, usage.input_tokens, usage.output_tokens)
    paid = _price(*args, usage.cached_input_tokens, usage.cache_write_tokens)
    uncached = _price(*args, 0, usage.cache_write_tokens)
    if paid is None or uncached is None:
        return None
    return uncached - paid


def worst_case_cost(
    provider_id: str, model: str, input_tokens: int, max_output_tokens: int
) -> Decimal | None:
    """The most a call could cost: the estimated prompt plus every allowed output token."""
    return price_of(
        provider_id, model, Usage(input_tokens=input_tokens, output_tokens=max_output_tokens)
    )
