"""OpenAI through the official ``openai`` SDK (3.x, Chat Completions).

One ``AsyncOpenAI`` is built per provider; each call uses ``with_options(api_key=...)``,
which copies the client object but shares its ``httpx2`` connection pool, so the user's key
travels in the ``Authorization`` header of that one request and connections are reused.
The SDK retries 408/409/429/5xx and connection errors itself (``max_retries``), honouring
``retry-after-ms``/``retry-after``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import TypeVar, cast

import httpx2
import openai
import pydantic
from openai.types.chat import ChatCompletionMessageParam

from byok.errors import InvalidKeyError, ProviderError, ProviderUnavailableError
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
from byok.providers.openai_wire import messages_to_openai, usage_from_openai
from byok.providers.template import ProviderTemplate
from byok.secret import Secret
from byok.types import ChatRequest, ChatResult, Chunk, KeyInfo, ModelInfo, Usage

__all__ = ["OpenAIProvider"]

# The SDK refuses to build a client without a key, and would otherwise read the
# operator's OPENAI_API_KEY. Every request replaces it with the user's key.
_NO_KEY = "per-request-key-not-set"

_T = TypeVar("_T")

# The SDK would add the operator's OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment
# to every request, and OpenAI refuses a user's key paired with someone else's
# organization. Omit() removes the headers whatever the environment says.
_NO_OPERATOR_ACCOUNT = cast(
    Mapping[str, str], {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
)


class _Client(openai.AsyncOpenAI):
    """The SDK client, except that a long Retry-After is not waited out in place (this
    SDK would wait up to 2 minutes): the router falls back or tells the user when to retry."""

    def _should_retry(self, response: httpx2.Response) -> bool:
        return not waits_too_long(response.headers) and super()._should_retry(response)


class OpenAIProvider(ProviderTemplate):
    """Chat Completions with streaming usage, key check via ``GET /models``."""

    translatable = (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError)

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self._client = _Client(
            api_key=_NO_KEY,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            default_headers=_NO_OPERATOR_ACCOUNT,
        )

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The one SDK client; its connection pool serves every user's requests."""
        return self._client

    def _auth(self, key: Secret) -> dict[str, str]:
        """The key as this request's header: the shared client is never copied per user."""
        if not key:
            raise InvalidKeyError(self.provider_id, "invalid")
        return {"Authorization": f"Bearer {key.reveal()}"}

    async def _chat(self, key: Secret, request: ChatRequest) -> ChatResult:
        response = await self._client.chat.completions.create(
            extra_headers=self._auth(key),
            model=request.model,
            messages=_messages(request),
            max_completion_tokens=_given(request.max_tokens),
            temperature=_given(request.temperature),
        )
        choice = response.choices[0] if response.choices else None
        return ChatResult(
            provider_id=self.provider_id,
            model=response.model or request.model,
            text=(choice.message.content or "") if choice else "",
            usage=usage_from_openai(_fields(response.usage)),
            finish_reason=choice.finish_reason if choice else None,
        )

    async def _stream(self, key: Secret, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        stream = await self._client.chat.completions.create(
            extra_headers=self._auth(key),
            model=request.model,
            messages=_messages(request),
            max_completion_tokens=_given(request.max_tokens),
            temperature=_given(request.temperature),
            stream=True,
            stream_options={"include_usage": True},
        )
        usage: Usage | None = None
        model = request.model
        finish: str | None = None
        async with stream:
            async for chunk in stream:
                model = chunk.model or model
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield Chunk(text=choice.delta.content)
                    finish = choice.finish_reason or finish
                # With include_usage the real usage arrives in one extra chunk whose
                # `choices` is empty, just before [DONE]; it doubles as the end marker.
                if chunk.usage is not None:
                    usage = usage_from_openai(_fields(chunk.usage))
        if usage is not None:
            yield Chunk(usage=usage, model=model, finish_reason=finish)

    async def _validate_key(self, key: Secret) -> KeyInfo:
        models = await self._list_models(key)
        return KeyInfo(provider_id=self.provider_id, models=tuple(m.id for m in models))

    async def _list_models(self, key: Secret) -> list[ModelInfo]:
        return [
            ModelInfo(id=m.id)
            async for m in self._client.models.list(extra_headers=self._auth(key))
        ]

    def _translate(self, exc: Exception, model_id: str | None) -> ProviderError:
        pid = self.provider_id
        if isinstance(exc, openai.APIStatusError):
            detail = ErrorDetail.from_body(exc.body)
            headers = dict(exc.response.headers)
            return error_for_status(
                pid, exc.status_code, detail, headers=headers, model_id=model_id
            )
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            return ProviderUnavailableError(
                pid, timed_out(self.settings.timeout_s), model_id=model_id, may_have_billed=True
            )
        if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            connect = _could_not_connect(exc)
            return ProviderUnavailableError(
                pid,
                UNREACHABLE if connect else CONNECTION_LOST,
                model_id=model_id,
                may_have_billed=not connect,
            )
        if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
            return ProviderUnavailableError(pid, UNREADABLE, model_id=model_id)
        if isinstance(exc, openai.APIError):
            # An `{"error": ...}` event inside a stream that had answered 200.
            return error_in_stream(pid, ErrorDetail.from_body(exc.body), model_id=model_id)
        return ProviderUnavailableError(pid, UNREADABLE, model_id=model_id)

    async def aclose(self) -> None:
        await self._client.close()


def _messages(request: ChatRequest) -> list[ChatCompletionMessageParam]:
    # Our roles are exactly the Chat Completions ones, so each dict is a valid param.
    return messages_to_openai(request.messages)  # type: ignore[return-value]


def _given(value: _T | None) -> _T | openai.Omit:
    return openai.omit if value is None else value


def _fields(usage: object) -> object:
    """The SDK's usage object as its wire fields. The SDK does not validate responses, so
    a wrong type is ours to judge (:func:`usage_from_openai`), not a serializer warning."""
    return usage.model_dump(warnings=False) if isinstance(usage, pydantic.BaseModel) else usage


def _could_not_connect(exc: Exception) -> bool:
    return isinstance(exc, httpx2.ConnectError) or isinstance(exc.__cause__, httpx2.ConnectError)
