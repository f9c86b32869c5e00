"""Anthropic through the official ``anthropic`` SDK (2.x, Messages API).

The system prompt is Anthropic's top-level ``system`` field and turns must alternate, so
messages pass through :func:`byok.providers.turns.split_system`. One ``AsyncAnthropic``
is built per provider with a placeholder key (an explicit key also stops the SDK from
reading ``ANTHROPIC_API_KEY`` or auto-discovering credential profiles on disk); each call
uses ``with_options(api_key=...)``, which shares the ``httpx2`` pool. SDK 2.x sends the key
as ``Authorization: Bearer`` with ``anthropic-version: 2026-10-21``.

API version 2026-10-21 rejects ``temperature``/``top_p``/``top_k`` (even at their
defaults), so a requested temperature is not sent to Anthropic.

Prompt caching: a system prompt whose message carries the ``cache_prefix`` hint goes out
as one text block with ``cache_control: {"type": "ephemeral"}`` (a 5-minute cache), but
only when it is at least the model's minimum cacheable length (:func:`min_cacheable_tokens`):
a shorter one cannot be cached, and marking it would only obscure the request.

Usage: Anthropic's ``input_tokens`` excludes cache reads and cache writes, so
``Usage.input_tokens`` is the sum of the three. In a stream the input counts arrive in
``message_start`` and the *cumulative* output count in ``message_delta``. The SDK does not
validate what it parses, so every figure goes through :class:`byok.plausible.UsageReport`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2
import pydantic

from byok.errors import BadRequestError, InvalidKeyError, ProviderError, ProviderUnavailableError
from byok.plausible import UsageReport, implausible_usage
from byok.pricing import estimate_input_tokens
from byok.providers.base import ProviderSettings
from byok.providers.failures import (
    CONNECTION_LOST,
    UNREACHABLE,
    UNREADABLE,
    ErrorDetail,
    error_for_status,
    error_in_stream,
    timed_out,
    waits_too_long,
)
from byok.providers.template import ProviderTemplate
from byok.providers.turns import Turn, split_system
from byok.secret import Secret
from byok.types import ChatRequest, ChatResult, Chunk, KeyInfo, ModelInfo, Usage

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicProvider", "min_cacheable_tokens"]

#: Anthropic requires ``max_tokens``; this is used when the request sets none.
DEFAULT_MAX_TOKENS = 4096

#: The shortest prefix each model caches (Anthropic's prompt-caching docs), by model id
#: prefix, first match wins; other models: 1024. Sonnet 4.6 is listed at 1024 but is
#: reported to cache only from 2048, which is used.
_MIN_CACHEABLE: tuple[tuple[str, int], ...] = (
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-7", 4096),
    ("claude-haiku-4", 4096),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
    ("claude-sonnet-4-6", 2048),
)
_DEFAULT_MIN_CACHEABLE = 1024
_EPHEMERAL = {"type": "ephemeral"}

_NO_KEY = "per-request-key-not-set"


class _Client(anthropic.AsyncAnthropic):
    """The SDK client, except that a long Retry-After is not waited out in place (this
    SDK would wait any length): the router falls back or tells the user when to retry."""

    def _should_retry(self, response: httpx2.Response) -> bool:
        return not waits_too_long(response.headers) and super()._should_retry(response)


class AnthropicProvider(ProviderTemplate):
    """Messages API with named-event streaming; key check via ``GET /v1/models``."""

    translatable = (anthropic.AnthropicError, httpx2.HTTPError, json.JSONDecodeError)

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self._client = _Client(
            api_key=_NO_KEY,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        return self._client

    # A per-request Authorization header would be cheaper than this client copy, but the
    # anthropic SDK logs per-request headers verbatim at DEBUG; the copy keeps the key out.
    def _for(self, key: Secret) -> anthropic.AsyncAnthropic:
        if not key:
            raise InvalidKeyError(self.provider_id, "invalid")
        return self._client.with_options(api_key=key.reveal())

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        conversation = split_system(request.messages)
        if not conversation.turns:
            raise BadRequestError(
                self.provider_id, "there is no message to answer", model_id=request.model
            )
        messages = [_message(t) for t in conversation.turns]
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if conversation.system:
            params["system"] = conversation.system
            if _worth_caching(request):
                params["system"] = [
                    {"type": "text", "text": conversation.system, "cache_control": _EPHEMERAL}
                ]
        # No temperature: API version 2026-10-21 (what SDK 2.x speaks) answers 400 to any
        # sampling parameter, and the SDK no longer accepts one.
        return params

    async def _chat(self, key: Secret, request: ChatRequest) -> ChatResult:
        message = await self._for(key).messages.create(**self._params(request))
        text = "".join(b.text for b in message.content if b.type == "text")
        return ChatResult(
            provider_id=self.provider_id,
            model=message.model or request.model,
            text=text,
            usage=_usage(message.usage),
            finish_reason=message.stop_reason,
        )

    async def _stream(self, key: Secret, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        stream = await self._for(key).messages.create(**self._params(request), stream=True)
        started: object = None
        delta_usage: object = None
        model = request.model
        finish: str | None = None
        stopped = False
        async with stream:
            async for event in stream:
                if event.type == "message_start":
                    model = event.message.model or model
                    started = event.message.usage
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield Chunk(text=event.delta.text)
                elif event.type == "message_delta":
                    # Cumulative counts: the last message_delta holds the totals.
                    delta_usage = event.usage
                    finish = event.delta.stop_reason or finish
                elif event.type == "message_stop":
                    stopped = True
        if started is not None and stopped:
            usage = _usage(started, delta_usage)
            yield Chunk(usage=usage, model=model, finish_reason=finish)

    async def _validate_key(self, key: Secret) -> KeyInfo:
        models = await self._list_models(key)
        return KeyInfo(provider_id=self.provider_id, models=tuple(m.id for m in models))

    async def _list_models(self, key: Secret) -> list[ModelInfo]:
        return [
            ModelInfo(id=m.id, name=m.display_name)
            async for m in self._for(key).models.list(limit=1000)
        ]

    def _translate(self, exc: Exception, model_id: str | None) -> ProviderError:
        pid = self.provider_id
        if isinstance(exc, anthropic.APIStatusError):
            detail = ErrorDetail.from_body(exc.body)
            if exc.status_code == 200:
                # `event: error` inside a stream is raised as a status error with the
                # stream's own 200 status; the body names the real problem.
                return error_in_stream(pid, detail, model_id=model_id)
            return error_for_status(
                pid, exc.status_code, detail, headers=dict(exc.response.headers), model_id=model_id
            )
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            return ProviderUnavailableError(
                pid, timed_out(self.settings.timeout_s), model_id=model_id, may_have_billed=True
            )
        if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
            connect = isinstance(exc, httpx2.ConnectError) or isinstance(
                exc.__cause__, httpx2.ConnectError
            )
            return ProviderUnavailableError(
                pid,
                UNREACHABLE if connect else CONNECTION_LOST,
                model_id=model_id,
                may_have_billed=not connect,
            )
        return ProviderUnavailableError(pid, UNREADABLE, model_id=model_id)

    async def aclose(self) -> None:
        await self._client.close()


def _message(turn: Turn) -> dict[str, Any]:
    """A turn as a Messages API message. With images, content is a list of blocks: each
    image as ``{"type": "image", "source": {"type": "base64", "media_type", "data"}}``,
    then the text (Anthropic's vision guide: images before the question work best)."""
    if not turn.images:
        return {"role": turn.role, "content": turn.text}
    blocks: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": image.media_type,
                "data": base64.b64encode(image.data).decode("ascii"),
            },
        }
        for image in turn.images
    ]
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    return {"role": turn.role, "content": blocks}


def min_cacheable_tokens(model: str) -> int:
    """The fewest tokens a cached prefix of ``model`` must have to be cached at all."""
    for prefix, tokens in _MIN_CACHEABLE:
        if model.startswith(prefix):
            return tokens
    return _DEFAULT_MIN_CACHEABLE


def _worth_caching(request: ChatRequest) -> bool:
    """The request's system prompt is marked as a shared prefix and is long enough to be
    cached. Its length is estimated on the high side: a prompt a little short of the
    minimum is marked to no effect (Anthropic bills it as plain input)."""
    system = [m for m in request.messages if m.role == "system"]
    if not any(m.cache_prefix for m in system):
        return False
    return estimate_input_tokens(system) >= min_cacheable_tokens(request.model)


def _usage(*reports: object) -> Usage:
    """Anthropic's usage objects as a :class:`Usage`; in a stream, a later report's
    figures replace the earlier ones (``message_delta`` holds cumulative counts)."""
    fields: dict[str, Any] = {}
    for raw in reports:
        if raw is None:
            continue
        if not isinstance(raw, pydantic.BaseModel):
            return implausible_usage("usage")
        # The SDK does not validate responses: a wrong type is ours to judge, not a
        # serializer warning.
        dumped = raw.model_dump(warnings=False)
        fields.update({k: v for k, v in dumped.items() if v is not None})
    report = UsageReport()
    uncached = report.tokens("input_tokens", fields.get("input_tokens"))
    cache_read = report.tokens("cache_read_input_tokens", fields.get("cache_read_input_tokens"))
    cache_write = report.tokens(
        "cache_creation_input_tokens", fields.get("cache_creation_input_tokens")
    )
    return report.usage(
        input_tokens=uncached + cache_read + cache_write,
        output_tokens=report.tokens("output_tokens", fields.get("output_tokens")),
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
