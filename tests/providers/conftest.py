"""Fixtures for the provider tests: providers built against the fakes.

The fakes themselves come from the ``tests.fakes.plugin`` pytest plugin (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from byok.providers.base import Provider
from byok.providers.builtins import BUILTIN_PROVIDER_IDS
from byok.providers.registry import build_provider
from byok.secret import Secret
from tests.fakes.llm_script import FakeLLM
from tests.fakes.plugin import settings_for
from tests.providers.chat import Subject

PROVIDER_IDS = list(BUILTIN_PROVIDER_IDS)

Build = Callable[..., Provider]


@pytest.fixture(params=PROVIDER_IDS)
def provider_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


_FAKE_FIXTURE = {
    "openai": "fake_openai",
    "anthropic": "fake_anthropic",
    "google": "fake_gemini",
    "xai": "fake_xai",
    "openrouter": "fake_openrouter",
}


@pytest.fixture
def fake(request: pytest.FixtureRequest, provider_id: str) -> FakeLLM:
    """The running fake for ``provider_id`` (only that one is started)."""
    fake: FakeLLM = request.getfixturevalue(_FAKE_FIXTURE[provider_id])
    return fake


#: Short, so stall tests end quickly, yet long enough for a first request on a loaded
#: 2-core CI machine (0.3 s once timed out a healthy Gemini request there).
TIMEOUT_S = 1.0


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """``build(fake, **settings_overrides)``: a provider pointed at a fake, closed after."""
    built: list[Provider] = []

    def _build(fake: FakeLLM, **overrides: Any) -> Provider:
        provider = build_provider(settings_for(fake, **overrides))
        built.append(provider)
        return provider

    yield _build
    for provider in built:
        await provider.aclose()


@pytest.fixture
def provider(build: Build, fake: FakeLLM) -> Provider:
    """The provider under test, with a short timeout and no retries."""
    return build(fake, timeout_s=TIMEOUT_S)


@pytest.fixture
def key(fake: FakeLLM) -> Secret:
    return Secret(fake.valid_key)


@pytest.fixture
def subject(provider_id: str, fake: FakeLLM, provider: Provider, key: Secret) -> Subject:
    return Subject(provider_id, fake, provider, key)
