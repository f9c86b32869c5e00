"""Pytest fixtures that start the fake LLM providers, for any test suite.

Enable with ``pytest_plugins = ["tests.fakes.plugin"]`` in ``tests/conftest.py``.

- ``fake_providers``: all five fakes running, with settings pointing at them::

      async def test_x(fake_providers):
          settings = fake_providers.settings("anthropic", timeout_s=0.3)
          key = fake_providers.key("anthropic")          # a key the fake accepts
          fake_providers["anthropic"].inject(Fault.http(529))
          fake_providers["anthropic"].reply(text="Hi", input_tokens=3, output_tokens=1)
          ...
          body = fake_providers["anthropic"].requests[-1].json()

- ``fake_openai``, ``fake_anthropic``, ``fake_gemini``, ``fake_xai``, ``fake_openrouter``:
  one fake each, when a test needs only one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from byok.providers.base import ProviderSettings, WireProtocol
from byok.providers.builtins import builtin_record
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openrouter import FakeOpenRouter
from tests.fakes.fake_xai import FakeXAI
from tests.fakes.llm_script import FakeLLM

__all__ = [
    "FakeProviders",
    "fake_anthropic",
    "fake_gemini",
    "fake_openai",
    "fake_openrouter",
    "fake_providers",
    "fake_xai",
    "settings_for",
]

#: Settings defaults for tests: fail fast, retry nothing unless a test asks for it.
TEST_TIMEOUT_S = 5.0
TEST_MAX_RETRIES = 0


def settings_for(fake: FakeLLM, **overrides: Any) -> ProviderSettings:
    """ProviderSettings pointing at a running fake (``base_url`` as the provider documents)."""
    values: dict[str, Any] = {
        "provider_id": fake.provider_id,
        "wire": _wire_of(fake.provider_id),
        "base_url": fake.base_url,
        "default_model": fake.models[0],
        "timeout_s": TEST_TIMEOUT_S,
        "max_retries": TEST_MAX_RETRIES,
    }
    values.update(overrides)
    return ProviderSettings(**values)


def _wire_of(provider_id: str) -> WireProtocol:
    record = builtin_record(provider_id)
    return record.wire if record else "openai-compatible"


class FakeProviders:
    """The five running fakes, by provider id."""

    def __init__(self, fakes: list[FakeLLM]) -> None:
        self.fakes = {f.provider_id: f for f in fakes}

    def __getitem__(self, provider_id: str) -> FakeLLM:
        return self.fakes[provider_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fakes)

    def settings(self, provider_id: str, **overrides: Any) -> ProviderSettings:
        return settings_for(self.fakes[provider_id], **overrides)

    def all_settings(self, **overrides: Any) -> list[ProviderSettings]:
        return [self.settings(pid, **overrides) for pid in self.fakes]

    def key(self, provider_id: str) -> str:
        """A key the fake accepts (plain text: wrap it in ``Secret`` where needed)."""
        return self.fakes[provider_id].valid_key


async def _running(fake: FakeLLM) -> AsyncIterator[FakeLLM]:
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeLLM]:
    async for fake in _running(FakeOpenAI()):
        yield fake


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeLLM]:
    async for fake in _running(FakeAnthropic()):
        yield fake


@pytest.fixture
async def fake_gemini() -> AsyncIterator[FakeLLM]:
    async for fake in _running(FakeGemini()):
        yield fake


@pytest.fixture
async def fake_xai() -> AsyncIterator[FakeLLM]:
    async for fake in _running(FakeXAI()):
        yield fake


@pytest.fixture
async def fake_openrouter() -> AsyncIterator[FakeLLM]:
    async for fake in _running(FakeOpenRouter()):
        yield fake


@pytest.fixture
async def fake_providers(
    fake_openai: FakeLLM,
    fake_anthropic: FakeLLM,
    fake_gemini: FakeLLM,
    fake_xai: FakeLLM,
    fake_openrouter: FakeLLM,
) -> FakeProviders:
    return FakeProviders([fake_openai, fake_anthropic, fake_gemini, fake_xai, fake_openrouter])
