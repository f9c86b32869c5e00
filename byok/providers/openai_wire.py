"""Chat Completions wire shapes shared by the OpenAI SDK provider and the compatible client.

Messages go out as ``{"role", "content"}`` objects; usage comes back as ``prompt_tokens``,
``completion_tokens`` and their ``*_details``. xAI counts reasoning tokens *outside*
``completion_tokens`` (its ``total_tokens`` is prompt + completion + reasoning), OpenAI
counts them inside; :func:`usage_from_openai` tells the two apart by the reported total so
that ``Usage.output_tokens`` always includes reasoning, as :class:`byok.types.Usage` says.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from byok.plausible import UsageReport, implausible_usage
from byok.types import NOT_REPORTED, ChatMessage, ImageInput, Usage

__all__ = ["image_data_url", "messages_to_openai", "usage_from_openai"]


def messages_to_openai(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Our messages as Chat Completions message objects, unchanged in order and role.

    A message with images has array content, as the Chat Completions reference documents
    for vision input: a ``text`` part, then one ``image_url`` part per image whose ``url``
    is a base64 ``data:`` URL (xAI and OpenRouter take the same shape).
    """
    return [_message(m) for m in messages]


def _message(message: ChatMessage) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts.extend(
        {"type": "image_url", "image_url": {"url": image_data_url(image)}}
        for image in message.images
    )
    return {"role": message.role, "content": parts}


def image_data_url(image: ImageInput) -> str:
    """``data:<media type>;base64,<bytes>``: an image inline in a Chat Completions part."""
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def usage_from_openai(raw: object) -> Usage:
    """A Chat Completions ``usage`` object as a :class:`Usage`, counts as reported.

    Every figure is checked (:class:`byok.plausible.UsageReport`): one that cannot be
    true makes the whole report unknown.
    """
    if not raw:
        return NOT_REPORTED
    if not isinstance(raw, Mapping):
        return implausible_usage("usage")
    report = UsageReport()
    prompt = report.tokens("prompt_tokens", raw.get("prompt_tokens"))
    completion = report.tokens("completion_tokens", raw.get("completion_tokens"))
    total = raw.get("total_tokens")
    prompt_details = _mapping(raw.get("prompt_tokens_details"))
    completion_details = _mapping(raw.get("completion_tokens_details"))
    reasoning = report.tokens("reasoning_tokens", completion_details.get("reasoning_tokens"))
    output = completion
    if reasoning and isinstance(total, int) and total == prompt + completion + reasoning:
        output = completion + reasoning
    return report.usage(
        input_tokens=prompt,
        output_tokens=output,
        cached_input_tokens=report.tokens("cached_tokens", prompt_details.get("cached_tokens")),
        cache_write_tokens=report.tokens(
            "cache_write_tokens", prompt_details.get("cache_write_tokens")
        ),
        reasoning_tokens=reasoning,
        reported_cost=report.cost("cost", raw.get("cost")),
    )


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}
