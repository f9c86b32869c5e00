"""A provider built on first use, so a process starts without importing every SDK."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

from byok.providers.base import Provider, ProviderSettings
from byok.providers.registry import build_provider
from byok.secret import Secret
from byok.types import ChatRequest, ChatResult, Chunk, KeyInfo, ModelInfo

__all__ = ["LazyProvider"]


class LazyProvider:
    """Stands in for the provider of ``settings`` until one of its methods is called."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._real: Provider | None = None
        self._lock = asyncio.Lock()

    @property
    def provider_id(self) -> str:
        return self.settings.provider_id

    async def _provider(self) -> Provider:
        if self._real is None:
            async with self._lock:
                if self._real is None:
                    self._real = await asyncio.to_thread(build_provider, self.settings)
        return self._real

    async def chat(self, key: Secret, request: ChatRequest) -> ChatResult:
        return await (await self._provider()).chat(key, request)

    async def stream(self, key: Secret, request: ChatRequest) -> AsyncIterator[Chunk]:
        provider = await self._provider()
        inner = provider.stream(key, request)
        async with aclosing(inner):  # type: ignore[type-var]
            async for chunk in inner:
                yield chunk

    async def warm(self) -> None:
        """Import the SDK and build the client now, off the event loop."""
        await self._provider()

    async def validate_key(self, key: Secret) -> KeyInfo:
        return await (await self._provider()).validate_key(key)

    async def list_models(self, key: Secret) -> list[ModelInfo]:
        return await (await self._provider()).list_models(key)

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()
