"""Google Gemini through the official ``google-genai`` SDK (3.x; never google-generativeai).

Choices made deliberately:

- **API version pinned to ``v1beta``.** google-genai 3.x defaults to ``/v1``, but the
  Gemini API documents ``v1beta`` as its surface (the key check ``GET /v1beta/models``,
  preview models and new fields appear there first). Pinning keeps our requests and the
  model list independent of the SDK's default, which already changed once between majors.
- **Our own ``httpx.AsyncClient``.** Given one, the SDK sends through it instead of a
  per-loop aiohttp session: one pool we own and close, per-read timeouts (aiohttp's is a
  total that would cut long streams), and no implicit 1–10 s sleep-and-retry on connection
  errors (that path exists only for aiohttp).
- **Retries always configured** (``attempts = max_retries + 1``); without retry options the
  SDK never retries an HTTP error at all. A 429 is not among them: the SDK would retry it
  after a second or two whatever its RetryInfo says (Gemini's are often a minute), so it
  goes straight to the router, which falls back or tells the user when to try again.
- **The key per request in ``x-goog-api-key``** through per-call ``http_options``; never the
  ``?key=`` query parameter, which leaks into URLs, logs and exception texts.

Usage: ``promptTokenCount`` includes cached content; ``candidatesTokenCount`` excludes
thinking, which is ``thoughtsTokenCount``, so output = candidates + thoughts. In a stream
every chunk carries ``usageMetadata`` and the last one is final.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from byok.errors import (
    BadRequestError,
    InvalidKeyError,
    ProviderError,
    ProviderQuotaError,
    ProviderUnavailableError,
    RateLimitedError,
)
from byok.plausible import UsageReport
from byok.providers.base import ProviderSettings
from byok.providers.failures import (
    CONNECTION_LOST,
    UNREACHABLE,
    UNREADABLE,
    ErrorDetail,
    error_for_status,
    retry_after_seconds,
    timed_out,
)
from byok.providers.template import ProviderTemplate
from byok.providers.turns import Turn, split_system
from byok.secret import Secret
from byok.types import NOT_REPORTED, ChatRequest, ChatResult, Chunk, KeyInfo, ModelInfo, Usage

__all__ = ["GEMINI_API_VERSION", "GoogleProvider"]

GEMINI_API_VERSION = "v1beta"

log = logging.getLogger(__name__)

_NO_KEY = "per-request-key-not-set"
_RETRIED_STATUSES = (408, 500, 502, 503, 504)
_DEPLETED = re.compile(r"prepayment credits|credits are depleted")
_KEY_HEADER = "x-goog-api-key"


class GoogleProvider(ProviderTemplate):
    """generateContent / streamGenerateContent; key check via ``GET /v1beta/models``."""

    translatable = (
        genai_errors.APIError,
        genai_errors.UnknownApiResponseError,
        httpx.HTTPError,
        json.JSONDecodeError,
        pydantic.ValidationError,
    )

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        api_version: str = GEMINI_API_VERSION,
        retry_delay_s: float | None = None,
    ) -> None:
        """``retry_delay_s`` overrides the SDK's back-off (1 s plus up to 1 s of jitter)."""
        super().__init__(settings)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_s))
        self._client = genai.Client(
            vertexai=False,
            api_key=_NO_KEY,
            http_options=types.HttpOptions(
                base_url=settings.base_url,
                api_version=api_version,
                timeout=round(settings.timeout_s * 1000),
                httpx_async_client=self._http,
                retry_options=types.HttpRetryOptions(
                    attempts=settings.max_retries + 1,
                    initial_delay=retry_delay_s,
                    max_delay=None if retry_delay_s is None else retry_delay_s * 8,
                    jitter=retry_delay_s,
                    http_status_codes=list(_RETRIED_STATUSES),
                ),
            ),
        )

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The one connection pool every user's requests go through."""
        return self._http

    def _options(self, key: Secret) -> types.HttpOptions:
        if not key:
            raise InvalidKeyError(self.provider_id, "invalid")
        return types.HttpOptions(headers={_KEY_HEADER: key.reveal()})

    def _config(
        self, key: Secret, request: ChatRequest
    ) -> tuple[list[types.Content], types.GenerateContentConfig]:
        conversation = split_system(request.messages)
        if not conversation.turns:
            raise BadRequestError(
                self.provider_id, "there is no message to answer", model_id=request.model
            )
        contents = [
            types.Content(role="user" if t.role == "user" else "model", parts=_parts(t))
            for t in conversation.turns
        ]
        system = (
            types.Content(role="user", parts=[types.Part(text=conversation.system)])
            if conversation.system
            else None
        )
        config = types.GenerateContentConfig(
            system_instruction=system,
            max_output_tokens=request.max_tokens,
            temperature=request.temperature,
            http_options=self._options(key),
            # We send no tools, so nothing to call; off also stops the SDK logging
            # "AFC is enabled" at INFO on every request.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        return contents, config

    async def _chat(self, key: Secret, request: ChatRequest) -> ChatResult:
        contents, config = self._config(key, request)
        response = await self._client.aio.models.generate_content(
            model=request.model, contents=contents, config=config
        )
        self._refuse_if_blocked(response, request.model)
        return ChatResult(
            provider_id=self.provider_id,
            model=response.model_version or request.model,
            text=_text(response),
            usage=_usage(response.usage_metadata),
            finish_reason=_finish(response),
        )

    async def _stream(self, key: Secret, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        contents, config = self._config(key, request)
        last: types.GenerateContentResponse | None = None
        finish: str | None = None
        async for response in await self._client.aio.models.generate_content_stream(
            model=request.model, contents=contents, config=config
        ):
            self._refuse_if_blocked(response, request.model)
            text = _text(response)
            if text:
                yield Chunk(text=text)
            finish = _finish(response) or finish
            last = response
        # A Gemini stream is complete when a candidate has a finishReason.
        if last is not None and finish is not None:
            yield Chunk(
                usage=_usage(last.usage_metadata),
                model=last.model_version or request.model,
                finish_reason=finish,
            )

    def _refuse_if_blocked(self, response: types.GenerateContentResponse, model: str) -> None:
        """Gemini answers a prompt its safety filters block with no candidates at all:
        not an outage, and not one to resend elsewhere unasked."""
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = feedback.block_reason
            name = str(getattr(reason, "value", reason)).lower().replace("_", " ")
            raise BadRequestError(
                self.provider_id, f"Gemini blocked the prompt ({name})", model_id=model
            )

    async def _validate_key(self, key: Secret) -> KeyInfo:
        models = await self._list_models(key)
        return KeyInfo(provider_id=self.provider_id, models=tuple(m.id for m in models))

    async def _list_models(self, key: Secret) -> list[ModelInfo]:
        pager = await self._client.aio.models.list(
            config=types.ListModelsConfig(page_size=1000, http_options=self._options(key))
        )
        found: list[ModelInfo] = []
        async for model in pager:
            actions = model.supported_actions or []
            if actions and "generateContent" not in actions:
                continue
            name = (model.name or "").removeprefix("models/")
            if name:
                found.append(
                    ModelInfo(
                        id=name, name=model.display_name, context_window=model.input_token_limit
                    )
                )
        return found

    def _translate(self, exc: Exception, model_id: str | None) -> ProviderError:
        pid = self.provider_id
        if isinstance(exc, genai_errors.APIError):
            detail = _detail(exc.details)
            code = exc.code if isinstance(exc.code, int) else 0
            if code == 429:
                # Gemini words every 429 as "exceeded your current quota ... billing";
                # its RetryInfo says whether (and when) to try again. Spent prepaid
                # credit is the exception: waiting will not bring it back.
                if _DEPLETED.search(detail.text):
                    return ProviderQuotaError(pid, model_id=model_id)
                return RateLimitedError(
                    pid, _retry_delay(exc.details) or _header_delay(exc), model_id=model_id
                )
            if code >= 400:
                return error_for_status(pid, code, detail, model_id=model_id)
            return ProviderUnavailableError(
                pid, "it reported an error during the answer", model_id=model_id
            )
        if isinstance(exc, pydantic.ValidationError):
            # The SDK validates every answer and refuses one whose fields have the wrong
            # type (a token count of NaN or text, say): the call was made, and billed.
            log.warning(
                "%s: the answer of %s could not be read (%s)",
                pid,
                model_id or "a listing",
                _invalid_fields(exc),
            )
            return ProviderUnavailableError(
                pid, UNREADABLE, model_id=model_id, may_have_billed=model_id is not None
            )
        if isinstance(exc, httpx.TimeoutException):
            return ProviderUnavailableError(
                pid, timed_out(self.settings.timeout_s), model_id=model_id, may_have_billed=True
            )
        if isinstance(exc, httpx.ConnectError):
            return ProviderUnavailableError(pid, UNREACHABLE, model_id=model_id)
        if isinstance(exc, httpx.TransportError):
            return ProviderUnavailableError(
                pid, CONNECTION_LOST, model_id=model_id, may_have_billed=True
            )
        return ProviderUnavailableError(pid, UNREADABLE, model_id=model_id)

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self._http.aclose()


def _text(response: types.GenerateContentResponse) -> str:
    if not response.candidates or response.candidates[0].content is None:
        return ""
    parts = response.candidates[0].content.parts or []
    return "".join(p.text for p in parts if p.text and not p.thought)


def _finish(response: types.GenerateContentResponse) -> str | None:
    if not response.candidates or response.candidates[0].finish_reason is None:
        return None
    reason = response.candidates[0].finish_reason
    return str(reason.value if hasattr(reason, "value") else reason)


def _usage(meta: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if meta is None:
        return NOT_REPORTED
    report = UsageReport()
    candidates = report.tokens("candidatesTokenCount", meta.candidates_token_count)
    thoughts = report.tokens("thoughtsTokenCount", meta.thoughts_token_count)
    return report.usage(
        input_tokens=report.tokens("promptTokenCount", meta.prompt_token_count),
        output_tokens=candidates + thoughts,
        cached_input_tokens=report.tokens(
            "cachedContentTokenCount", meta.cached_content_token_count
        ),
        reasoning_tokens=thoughts,
    )


def _invalid_fields(exc: pydantic.ValidationError) -> str:
    """Where the answer was wrong (field paths, never the values)."""
    paths = {".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False)}
    return ", ".join(sorted(paths))[:300]


def _error_object(details: Any) -> dict[str, Any]:
    if isinstance(details, list) and len(details) == 1:
        details = details[0]
    if isinstance(details, dict):
        inner = details.get("error", details)
        return inner if isinstance(inner, dict) else {}
    return {}


def _detail(details: Any) -> ErrorDetail:
    """Gemini's error plus the ``reason`` of each ErrorInfo (``API_KEY_INVALID``...)."""
    error = _error_object(details)
    reasons = [d.get("reason", "") for d in error.get("details") or [] if isinstance(d, dict)]
    base = ErrorDetail.from_body(error)
    return ErrorDetail(
        message=base.message,
        code=" ".join(r for r in reasons if r),
        type=base.code,
        status=base.status,
    )


def _retry_delay(details: Any) -> float | None:
    for item in _error_object(details).get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _header_delay(exc: genai_errors.APIError) -> float | None:
    response = exc.response
    headers = getattr(response, "headers", None)
    return retry_after_seconds(dict(headers)) if headers is not None else None


def _parts(turn: Turn) -> list[types.Part]:
    """A turn's parts: each image as ``inlineData`` (``mimeType`` + base64 ``data``, the
    SDK encodes the bytes), then the text, as Gemini's image-understanding guide shows."""
    parts = [
        types.Part(inline_data=types.Blob(mime_type=image.media_type, data=image.data))
        for image in turn.images
    ]
    if turn.text or not parts:
        parts.append(types.Part(text=turn.text))
    return parts
