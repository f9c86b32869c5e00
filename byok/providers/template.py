"""The call discipline every provider shares, written once.

:class:`ProviderTemplate` implements the public :class:`~byok.providers.base.Provider`
methods around a few provider-specific steps (``_chat``, ``_stream``, ``_validate_key``,
``_list_models``) and one translation choke point (``_translate``). It guarantees that:

- only :class:`byok.errors.ProviderError` subclasses leave a provider (SDK and transport
  exceptions are translated, chained with ``from`` for the logs);
- an unknown model is reported with the models the key *can* use, from ``list_models``;
- a stream either ends with its final usage chunk or raises: a failure after the first
  token is a :class:`~byok.errors.StreamInterruptedError`, never a silently short answer;
- a usage report that could not be believed (:mod:`byok.plausible`) is logged once at
  WARNING, naming the provider, the model and the implausible figure.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import ClassVar

from byok.errors import (
    ProviderError,
    ProviderUnavailableError,
    StreamInterruptedError,
    UnknownModelError,
)
from byok.providers.base import ProviderSettings
from byok.secret import Secret
from byok.types import ChatRequest, ChatResult, Chunk, KeyInfo, ModelInfo, Usage

__all__ = ["ProviderTemplate"]

log = logging.getLogger(__name__)


class ProviderTemplate(ABC):
    """Base of the built-in providers. Subclasses fill in the wire-specific steps."""

    #: Exception types ``_translate`` knows how to turn into a ProviderError.
    translatable: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    @property
    def provider_id(self) -> str:
        return self.settings.provider_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.provider_id!r}, {self.settings.base_url!r})"

    # -- the wire-specific steps -------------------------------------------------------

    @abstractmethod
    async def _chat(self, key: Secret, request: ChatRequest) -> ChatResult: ...

    @abstractmethod
    def _stream(self, key: Secret, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        """Text chunks, then the final usage chunk only once the provider said it is done."""

    @abstractmethod
    async def _validate_key(self, key: Secret) -> KeyInfo: ...

    @abstractmethod
    async def _list_models(self, key: Secret) -> list[ModelInfo]: ...

    @abstractmethod
    def _translate(self, exc: Exception, model_id: str | None) -> ProviderError:
        """The one place this provider's SDK and transport exceptions become ours."""

    @abstractmethod
    async def aclose(self) -> None: ...

    # -- the public interface ----------------------------------------------------------

    async def chat(self, key: Secret, request: ChatRequest) -> ChatResult:
        try:
            result = await self._chat(key, request)
        except ProviderError as err:
            enriched = await self._with_available_models(key, err)
            if enriched is err:
                raise
            raise enriched from err
        except self.translatable as exc:
            translated = self._translate(exc, request.model)
            raise await self._with_available_models(key, translated) from exc
        self._warn_if_implausible(result.model, result.usage)
        return result

    async def stream(self, key: Secret, request: ChatRequest) -> AsyncIterator[Chunk]:
        started = False
        try:
            async with aclosing(self._stream(key, request)) as chunks:
                async for chunk in chunks:
                    if chunk.usage is not None:
                        self._warn_if_implausible(chunk.model or request.model, chunk.usage)
                        yield chunk
                        return
                    if chunk.text:
                        started = True
                        yield chunk
        except ProviderError as err:
            failure = await self._stream_failure(key, err, started)
            if failure is err:
                raise
            raise failure from err
        except self.translatable as exc:
            translated = self._translate(exc, request.model)
            raise await self._stream_failure(key, translated, started) from exc
        what = "the stream ended before the answer was complete"
        if started:
            raise StreamInterruptedError(self.provider_id, what, model_id=request.model)
        raise ProviderUnavailableError(self.provider_id, what, model_id=request.model)

    async def validate_key(self, key: Secret) -> KeyInfo:
        try:
            return await self._validate_key(key)
        except ProviderError:
            raise
        except self.translatable as exc:
            raise self._translate(exc, None) from exc

    async def list_models(self, key: Secret) -> list[ModelInfo]:
        try:
            return await self._list_models(key)
        except ProviderError:
            raise
        except self.translatable as exc:
            raise self._translate(exc, None) from exc

    # -- helpers -----------------------------------------------------------------------

    def _warn_if_implausible(self, model: str, usage: Usage) -> None:
        if usage.implausible is not None:
            log.warning(
                "%s reported implausible usage for %s (%s): its tokens and cost are "
                "recorded as unknown",
                self.provider_id,
                model,
                usage.implausible,
            )

    async def _stream_failure(
        self, key: Secret, err: ProviderError, started: bool
    ) -> ProviderError:
        if not started:
            return await self._with_available_models(key, err)
        if isinstance(err, StreamInterruptedError):
            return err
        # A kind such as "rate limited" is a fixed, safe phrase to show.
        what = err.what if isinstance(err, ProviderUnavailableError) else err.kind.replace("_", " ")
        return StreamInterruptedError(self.provider_id, what, model_id=err.model_id)

    async def _with_available_models(self, key: Secret, err: ProviderError) -> ProviderError:
        """Name what the key can use when the provider said the model is unknown."""
        if not isinstance(err, UnknownModelError) or err.available:
            return err
        try:
            models = await self.list_models(key)
        except ProviderError as list_err:
            log.debug(
                "%s: listing models after an unknown model failed: %s",
                self.provider_id,
                list_err.kind,
            )
            return err
        return UnknownModelError(
            self.provider_id, err.model_id or "?", sorted(m.id for m in models)
        )
