"""Building requests and draining streams in provider tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from byok.providers.base import Provider
from byok.secret import Secret
from byok.types import ChatMessage, ChatRequest, Chunk
from tests.fakes.llm_script import FakeLLM


@dataclass(frozen=True)
class Subject:
    """One provider under test, its fake, and a key the fake accepts."""

    provider_id: str
    fake: FakeLLM
    provider: Provider
    key: Secret


def ask(model: str, *texts: str, system: str | None = None, **fields: Any) -> ChatRequest:
    """A request: an optional system prompt, then alternating user/assistant texts."""
    messages = [ChatMessage("system", system)] if system else []
    messages += [
        ChatMessage("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(texts)
    ]
    return ChatRequest(model=model, messages=tuple(messages), **fields)


async def drain(provider: Provider, key: Secret, request: ChatRequest) -> list[Chunk]:
    """Every chunk of a stream (raising what the stream raises)."""
    return [chunk async for chunk in provider.stream(key, request)]


async def call(provider: Provider, key: Secret, request: ChatRequest, *, streamed: bool) -> Any:
    """chat() or a drained stream(), so one test covers both."""
    if streamed:
        return await drain(provider, key, request)
    return await provider.chat(key, request)
