"""The provider interface every LLM backend implements, and its settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from byok.providers.builtins import WireProtocol
from byok.types import ChatRequest, ChatResult, Chunk, KeyInfo, ModelInfo

if TYPE_CHECKING:
    # Only in annotations: byok.secret reads key shapes from byok.providers.builtins, so
    # importing it here at run time would load this package from inside byok.secret.
    from byok.secret import Secret

__all__ = ["Provider", "ProviderSettings", "WireProtocol"]


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """Operator settings for one provider (``[providers.<id>]`` in the config)."""

    provider_id: str
    wire: WireProtocol
    base_url: str
    default_model: str
    timeout_s: float = 60.0
    max_retries: int = 2
    display_name: str | None = None


@runtime_checkable
class Provider(Protocol):
    """One LLM backend. Keys are passed per call; HTTP clients live as long as the provider."""

    settings: ProviderSettings

    @property
    def provider_id(self) -> str: ...

    async def chat(self, key: Secret, request: ChatRequest) -> ChatResult:
        """One complete answer. Raises a :class:`byok.errors.ProviderError` on failure."""
        ...

    def stream(self, key: Secret, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Text chunks, then one final chunk with usage. Errors raise mid-iteration."""
        ...

    async def validate_key(self, key: Secret) -> KeyInfo:
        """The cheapest call that proves the key works; spends no tokens."""
        ...

    async def list_models(self, key: Secret) -> list[ModelInfo]:
        """Models this key may use, from the provider's own list."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...
