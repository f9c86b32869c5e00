"""One client for every OpenAI-compatible Chat Completions API, over one httpx2 pool.

xAI and OpenRouter subclass it; an operator-configured endpoint (Ollama, vLLM, LM Studio)
uses it as is, under its own provider id; OpenAI itself sends its chat and streams through
it too (:mod:`byok.providers.openai`). Each provider instance uses one ``httpx2.AsyncClient``
(the HTTP library of the official SDKs) for its whole life, so connections are pooled; the
user's key goes in the ``Authorization`` header of each request and nowhere else (a local
endpoint that needs no key gets no header).

Beyond what the SDKs would do for us, this client:

- retries 408/409/429/5xx, timeouts and connection errors up to ``max_retries`` times,
  honouring ``x-should-retry``, ``retry-after-ms`` and ``retry-after`` (a wait longer than
  a minute is not retried: the router's fallback serves the user better);
- parses SSE by hand, skipping comment lines such as OpenRouter's
  ``: OPENROUTER PROCESSING``;
- treats an ``{"error": ...}`` event inside a 200 stream (or a ``finish_reason`` of
  ``"error"``) as the failure it is, never as the end of a short answer;
- reads error bodies whose ``error`` is an object *or* a plain string (xAI).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol

import httpx2

from byok.errors import ProviderError, ProviderUnavailableError
from byok.providers.base import ProviderSettings
from byok.providers.failures import (
    CONNECTION_LOST,
    MAX_IN_PLACE_WAIT_S,
    UNREACHABLE,
    UNREADABLE,
    ErrorDetail,
    error_for_status,
    error_in_stream,
    retry_after_seconds,
    timed_out,
    waits_too_long,
)
from byok.providers.openai_wire import messages_to_openai, usage_from_openai
from byok.providers.template import ProviderTemplate
from byok.secret import Secret
from byok.types import NOT_REPORTED, ChatRequest, ChatResult, Chunk, KeyInfo, ModelInfo, Usage

__all__ = ["HTTPStatusFailure", "OpenAICompatibleProvider"]


class HTTPStatusFailure(Exception):
    """An error status after retries; translated by ``_translate``, never seen outside."""

    def __init__(self, status: int, body: object, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers)


class OpenAICompatibleProvider(ProviderTemplate):
    """Chat Completions over plain httpx2; key check via ``GET {base_url}/models``."""

    translatable: ClassVar[tuple[type[Exception], ...]] = (
        HTTPStatusFailure,
        httpx2.HTTPError,
        json.JSONDecodeError,
    )
    #: The request field that caps the answer's length (OpenAI: ``max_completion_tokens``).
    token_limit_field: ClassVar[str] = "max_tokens"
    #: Whether the usage chunk, rather than ``[DONE]``, marks a complete stream (OpenAI
    #: always sends usage when asked, so a stream without it is broken, not unmetered).
    usage_marks_the_end: ClassVar[bool] = False

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        headers: Mapping[str, str] | None = None,
        retry_delay_s: float = 0.5,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        """``headers`` are sent with every request (e.g. OpenRouter's ``X-Title``);
        ``http_client`` is a pool to share (closed by :meth:`aclose`)."""
        super().__init__(settings)
        self._base = settings.base_url.rstrip("/")
        self._retry_delay_s = retry_delay_s
        self._extra_headers = dict(headers or {})
        self._http = http_client or httpx2.AsyncClient(
            timeout=httpx2.Timeout(settings.timeout_s), headers={"User-Agent": "byok-bot"}
        )

    @property
    def http_client(self) -> httpx2.AsyncClient:
        """The one connection pool every user's requests go through."""
        return self._http

    # -- HTTP ----------------------------------------------------------------------------

    def _headers(self, key: Secret, *, stream: bool = False) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        headers.update(self._extra_headers)
        if key:
            headers["Authorization"] = f"Bearer {key.reveal()}"
        return headers

    async def _send(
        self, method: str, path: str, key: Secret, *, body: object = None, stream: bool = False
    ) -> httpx2.Response:
        """One request with retries; returns a < 400 response or raises."""
        request = self._http.build_request(
            method, self._base + path, json=body, headers=self._headers(key, stream=stream)
        )
        attempt = 0
        while True:
            try:
                response = await self._http.send(request, stream=stream)
            except httpx2.TransportError:
                if attempt >= self.settings.max_retries:
                    raise
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            if attempt < self.settings.max_retries and _should_retry(response):
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, retry_after_seconds(response.headers)))
                continue
            raise HTTPStatusFailure(response.status_code, _body(response), response.headers)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after <= MAX_IN_PLACE_WAIT_S:
            return retry_after
        base = min(self._retry_delay_s * 2.0 ** (attempt - 1), 8.0)
        return base * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not security

    # -- chat ------------------------------------------------------------------------------

    def _payload(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": messages_to_openai(request.messages),
        }
        if request.max_tokens is not None:
            payload[self.token_limit_field] = request.max_tokens
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    async def _chat(self, key: Secret, request: ChatRequest) -> ChatResult:
        response = await self._send(
            "POST", "/chat/completions", key, body=self._payload(request, stream=False)
        )
        data = _object(response.json())
        self._raise_embedded_error(data, request.model)
        choice = _object((_choices(data) or [{}])[0])
        message = _object(choice.get("message") or {})
        return ChatResult(
            provider_id=self.provider_id,
            model=str(data.get("model") or request.model),
            text=str(message.get("content") or ""),
            usage=usage_from_openai(data.get("usage")),
            finish_reason=choice.get("finish_reason"),
        )

    async def _stream(self, key: Secret, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        response = await self._send(
            "POST", "/chat/completions", key, body=self._payload(request, stream=True), stream=True
        )
        model = request.model
        usage: Usage | None = None
        finish: str | None = None
        done = False
        try:
            async for data in _sse_data(response):
                if done:
                    continue  # read to the end so the connection goes back to the pool
                if data == "[DONE]":
                    done = True
                    continue
                chunk = json.loads(data)
                if not isinstance(chunk, dict):
                    continue
                self._raise_embedded_error(chunk, request.model)
                model = str(chunk.get("model") or model)
                for choice in map(_object, _choices(chunk)):
                    text = _object(choice.get("delta") or {}).get("content")
                    if text:
                        yield Chunk(text=str(text))
                    finish = choice.get("finish_reason") or finish
                # With include_usage every chunk says "usage": null but the extra last one.
                if chunk.get("usage") is not None:
                    usage = usage_from_openai(chunk["usage"])
        finally:
            await response.aclose()
        if usage is not None if self.usage_marks_the_end else done:
            # A server that ignores include_usage reports nothing: unknown, not a guess.
            yield Chunk(usage=usage or NOT_REPORTED, model=model, finish_reason=finish)

    def _raise_embedded_error(self, data: Mapping[str, Any], model_id: str) -> None:
        """OpenRouter reports failures after the stream (or answer) began inside a 200."""
        failed = any(
            c.get("finish_reason") == "error"
            for c in data.get("choices") or []
            if isinstance(c, dict)
        )
        if data.get("error") or failed:
            raise error_in_stream(self.provider_id, ErrorDetail.from_body(data), model_id=model_id)

    # -- keys and models -------------------------------------------------------------------

    async def _validate_key(self, key: Secret) -> KeyInfo:
        models = await self._list_models(key)
        return KeyInfo(provider_id=self.provider_id, models=tuple(m.id for m in models))

    async def _list_models(self, key: Secret) -> list[ModelInfo]:
        data = (await self._send("GET", "/models", key)).json()
        entries = data.get("data", []) if isinstance(data, dict) else []
        return [
            ModelInfo(id=str(m["id"]), name=m.get("name"), context_window=m.get("context_length"))
            for m in entries
            if isinstance(m, dict) and m.get("id")
        ]

    async def _get_json(self, path: str, key: Secret) -> dict[str, Any]:
        data = (await self._send("GET", path, key)).json()
        if not isinstance(data, dict):
            raise json.JSONDecodeError("not an object", str(data), 0)
        return data

    # -- errors ------------------------------------------------------------------------------

    def _translate(self, exc: Exception, model_id: str | None) -> ProviderError:
        pid = self.provider_id
        if isinstance(exc, HTTPStatusFailure):
            return error_for_status(
                pid,
                exc.status,
                ErrorDetail.from_body(exc.body),
                headers=exc.headers,
                model_id=model_id,
            )
        if isinstance(exc, httpx2.TimeoutException):
            return ProviderUnavailableError(
                pid, timed_out(self.settings.timeout_s), model_id=model_id, may_have_billed=True
            )
        if isinstance(exc, httpx2.ConnectError):
            return ProviderUnavailableError(pid, UNREACHABLE, model_id=model_id)
        if isinstance(exc, httpx2.TransportError):
            return ProviderUnavailableError(
                pid, CONNECTION_LOST, model_id=model_id, may_have_billed=True
            )
        return ProviderUnavailableError(pid, UNREADABLE, model_id=model_id)

    async def aclose(self) -> None:
        await self._http.aclose()


def _should_retry(response: httpx2.Response) -> bool:
    verdict = str(response.headers.get("x-should-retry", "")).lower()
    if verdict in ("true", "false"):
        return verdict == "true"
    if waits_too_long(response.headers):
        return False
    return response.status_code in (408, 409, 429) or response.status_code >= 500


def _object(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object; any other shape makes the response unreadable."""
    if not isinstance(value, dict):
        raise json.JSONDecodeError("expected a JSON object", "", 0)
    return value


def _choices(data: Mapping[str, Any]) -> list[Any]:
    """The ``choices`` array (absent or null: none); any other shape is unreadable."""
    choices = data.get("choices") or []
    if not isinstance(choices, list):
        raise json.JSONDecodeError("expected a JSON array", "", 0)
    return choices


def _body(response: httpx2.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text


class _Lines(Protocol):
    def aiter_lines(self) -> AsyncIterator[str]: ...


async def _sse_data(response: _Lines) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event; comments (``: ...``) are skipped."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith(":"):
            continue
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    # An event left unterminated at the end of the body is discarded, as SSE specifies.
