"""OpenAI: chat and streams through our own lean client, the key check through the SDK.

Chat and streams are the hot path, so they go through
:class:`~byok.providers.openai_compatible.OpenAICompatibleProvider` (plain ``httpx2`` and
hand-parsed SSE), which costs about half the CPU per call of the official ``openai`` SDK
(``bench/provider_clients.py``). It sends what OpenAI's Chat Completions reference
documents for current models: ``max_completion_tokens`` (``max_tokens`` is deprecated and
refused by reasoning models), ``stream_options: {"include_usage": true}`` on streams,
``temperature`` only when set, the key as ``Authorization: Bearer`` and nothing else about
the account (no ``OpenAI-Organization`` / ``OpenAI-Project`` from the operator's
environment). It retries 408/409/429/5xx and connection errors up to ``max_retries``
times, honouring ``x-should-retry``, ``retry-after-ms`` and ``retry-after``, as the SDK
does, except that a wait longer than :data:`~byok.providers.failures.MAX_IN_PLACE_WAIT_S`
is left to the router.

The official SDK (``AsyncOpenAI``) stays for what the lean client does not cover: the key
check and the model list (``GET /models``, paginated the SDK's way). Both share one
``httpx2`` connection pool, handed to the SDK as its ``http_client``, so every request,
whatever its path, reuses the same connections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, cast

import httpx2
import openai

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
from byok.providers.openai_compatible import OpenAICompatibleProvider
from byok.secret import Secret
from byok.types import KeyInfo, ModelInfo

__all__ = ["OpenAIProvider"]

# The SDK refuses to build a client without a key, and would otherwise read the
# operator's OPENAI_API_KEY. Every request replaces it with the user's key.
_NO_KEY = "per-request-key-not-set"

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


class OpenAIProvider(OpenAICompatibleProvider):
    """Chat Completions with streaming usage; key check via ``GET /models`` (SDK)."""

    translatable: ClassVar[tuple[type[Exception], ...]] = (
        *OpenAICompatibleProvider.translatable,
        openai.OpenAIError,
    )
    token_limit_field: ClassVar[str] = "max_completion_tokens"
    # With include_usage OpenAI's usage arrives in one extra chunk whose `choices` is
    # empty, just before [DONE]: it is the end of the answer, and never missing.
    usage_marks_the_end: ClassVar[bool] = True

    def __init__(self, settings: ProviderSettings) -> None:
        # The SDK's own defaults for its pool (connection limits, redirects), shared.
        pool = openai.DefaultAsyncHttpxClient(
            timeout=httpx2.Timeout(settings.timeout_s), headers={"User-Agent": "byok-bot"}
        )
        super().__init__(settings, http_client=pool)
        self._client = _Client(
            api_key=_NO_KEY,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            default_headers=_NO_OPERATOR_ACCOUNT,
            http_client=pool,
        )

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client (key check, model list); its pool is :attr:`http_client`."""
        return self._client

    def _headers(self, key: Secret, *, stream: bool = False) -> dict[str, str]:
        if not key:
            raise InvalidKeyError(self.provider_id, "invalid")
        return super()._headers(key, stream=stream)

    def _auth(self, key: Secret) -> dict[str, str]:
        """The key as this SDK request's header: the shared client is never copied per user."""
        if not key:
            raise InvalidKeyError(self.provider_id, "invalid")
        return {"Authorization": f"Bearer {key.reveal()}"}

    async def _validate_key(self, key: Secret) -> KeyInfo:
        models = await self._list_models(key)
        return KeyInfo(provider_id=self.provider_id, models=tuple(m.id for m in models))

    async def _list_models(self, key: Secret) -> list[ModelInfo]:
        return [
            ModelInfo(id=m.id)
            async for m in self._client.models.list(extra_headers=self._auth(key))
        ]

    def _translate(self, exc: Exception, model_id: str | None) -> ProviderError:
        if not isinstance(exc, openai.OpenAIError):
            return super()._translate(exc, model_id)
        pid = self.provider_id
        if isinstance(exc, openai.APIStatusError):
            detail = ErrorDetail.from_body(exc.body)
            headers = dict(exc.response.headers)
            return error_for_status(
                pid, exc.status_code, detail, headers=headers, model_id=model_id
            )
        if isinstance(exc, openai.APITimeoutError):
            return ProviderUnavailableError(
                pid, timed_out(self.settings.timeout_s), model_id=model_id, may_have_billed=True
            )
        if isinstance(exc, openai.APIConnectionError):
            connect = isinstance(exc.__cause__, httpx2.ConnectError)
            return ProviderUnavailableError(
                pid,
                UNREACHABLE if connect else CONNECTION_LOST,
                model_id=model_id,
                may_have_billed=not connect,
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return ProviderUnavailableError(pid, UNREADABLE, model_id=model_id)
        if isinstance(exc, openai.APIError):
            return error_in_stream(pid, ErrorDetail.from_body(exc.body), model_id=model_id)
        return ProviderUnavailableError(pid, UNREADABLE, model_id=model_id)

    async def aclose(self) -> None:
        await self._client.close()  # closes the shared pool too
