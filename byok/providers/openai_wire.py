"""Chat Completions wire shapes shared by the OpenAI SDK provider and the compatible client.

Messages go out as ``{"role", "content"}`` objects; usage comes back as ``prompt_tokens``,
``completion_tokens`` and their ``*_details``. xAI counts reasoning tokens *outside*
``completion_tokens`` (its ``total_tokens`` is prompt + completion + reasoning), OpenAI
counts them inside; :func:`usage_from_openai` tells the two apart by the reported total so
that ``Usage.output_tokens`` always includes reasoning, as :class:`byok.types.Usage` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from byok.types import NOT_REPORTED, ChatMessage, Usage

__all__ = ["messages_to_openai", "usage_from_openai"]


def messages_to_openai(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """Our messages as Chat Completions message objects, unchanged in order and role."""
    return [{"role": m.role, "content": m.content} for m in messages]


def usage_from_openai(raw: Mapping[str, object] | None) -> Usage:
    """A Chat Completions ``usage`` object as a :class:`Usage`, counts as reported."""
    if not raw:
        return NOT_REPORTED
    prompt = _int(raw.get("prompt_tokens"))
    completion = _int(raw.get("completion_tokens"))
    total = raw.get("total_tokens")
    prompt_details = _mapping(raw.get("prompt_tokens_details"))
    completion_details = _mapping(raw.get("completion_tokens_details"))
    reasoning = _int(completion_details.get("reasoning_tokens"))
    output = completion
    if reasoning and isinstance(total, int) and total == prompt + completion + reasoning:
        output = completion + reasoning
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        cached_input_tokens=_int(prompt_details.get("cached_tokens")),
        cache_write_tokens=_int(prompt_details.get("cache_write_tokens")),
        reasoning_tokens=reasoning,
        reported_cost=_decimal(raw.get("cost")),
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        # str() first: Decimal(0.00085375) would carry binary float noise.
        return Decimal(str(value))
    except InvalidOperation:
        return None
