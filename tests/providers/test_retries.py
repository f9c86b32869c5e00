"""Retries honour ``max_retries`` and timeouts honour ``timeout_s``, for every provider.

The fakes answer with ``retry-after-ms: 1`` so that SDK back-off costs a millisecond;
Gemini's SDK ignores that header, so its provider is built with a tiny back-off instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from byok.errors import InvalidKeyError, ProviderUnavailableError, RateLimitedError
from byok.providers.base import Provider
from byok.providers.google import GoogleProvider
from byok.providers.registry import build_provider
from byok.secret import Secret
from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import Fault
from tests.fakes.plugin import settings_for
from tests.providers.chat import ask, call

FAST_503 = Fault.http(503, headers={"retry-after-ms": "1"})


@pytest.fixture
async def make(fake: FakeLLM) -> AsyncIterator[Callable[..., Provider]]:
    """A provider for the current fake with these settings and a fast back-off."""
    made: list[Provider] = []

    def _make(**overrides: Any) -> Provider:
        settings = settings_for(fake, **overrides)
        provider = (
            GoogleProvider(settings, retry_delay_s=0.001)
            if fake.provider_id == "google"
            else build_provider(settings)
        )
        made.append(provider)
        return provider

    yield _make
    for provider in made:
        await provider.aclose()


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_retries_until_success_within_max_retries(
    make: Callable[..., Provider], fake: FakeLLM, streamed: bool
) -> None:
    provider = make(max_retries=2)
    fake.inject(FAST_503, times=2)
    result = await call(
        provider, Secret(fake.valid_key), ask(fake.models[0], "hi"), streamed=streamed
    )

    assert result
    assert len(fake.requests) == 3


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_gives_up_after_max_retries(
    make: Callable[..., Provider], fake: FakeLLM, streamed: bool
) -> None:
    provider = make(max_retries=1)
    fake.inject(FAST_503, times=5)
    with pytest.raises(ProviderUnavailableError):
        await call(provider, Secret(fake.valid_key), ask(fake.models[0], "hi"), streamed=streamed)

    assert len(fake.requests) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_long_retry_after_is_left_to_the_router(
    make: Callable[..., Provider], fake: FakeLLM, streamed: bool
) -> None:
    # Anthropic's SDK would wait any Retry-After out in place, OpenAI's up to 2 minutes,
    # Gemini's would retry within seconds whatever it asked (times max_retries).
    provider = make(max_retries=2)
    fake.inject(Fault.rate_limited(retry_after="90"))
    with pytest.raises(RateLimitedError) as raised:
        await call(provider, Secret(fake.valid_key), ask(fake.models[0], "hi"), streamed=streamed)

    assert len(fake.requests) == 1
    # (Gemini's fake words its wait as a RetryInfo of 47 s, as the real API does.)
    assert raised.value.retry_after in (90, 47)


async def test_refused_key_is_never_retried(make: Callable[..., Provider], fake: FakeLLM) -> None:
    provider = make(max_retries=3)
    with pytest.raises(InvalidKeyError):
        await provider.chat(Secret(fake.key_prefix + "not-registered"), ask(fake.models[0], "hi"))

    assert len(fake.requests) == 1


@pytest.mark.slow  # waits out a timeout
async def test_stall_ends_at_timeout_and_timeouts_count_as_retryable(
    make: Callable[..., Provider], fake: FakeLLM
) -> None:
    provider = make(timeout_s=0.2, max_retries=1)
    fake.inject(Fault.stall(), times=2)
    with pytest.raises(ProviderUnavailableError) as raised:
        await provider.chat(Secret(fake.valid_key), ask(fake.models[0], "hi"))

    assert raised.value.what == "no answer within 0.2 s"
    assert len(fake.requests) == 2


async def test_long_retry_after_is_not_waited_out_by_the_compatible_client(
    build: Callable[..., Provider], fake_openrouter: FakeLLM
) -> None:
    # A minute-plus wait is the router's business (fall back), not a hung request.
    provider = build(fake_openrouter, max_retries=3)
    fake_openrouter.inject(Fault.rate_limited(retry_after="3600"))

    with pytest.raises(RateLimitedError):
        await provider.chat(Secret(fake_openrouter.valid_key), ask("openrouter/auto", "hi"))

    assert len(fake_openrouter.requests) == 1


async def test_x_should_retry_false_is_obeyed(
    build: Callable[..., Provider], fake_xai: FakeLLM
) -> None:
    provider = build(fake_xai, max_retries=3)
    fake_xai.inject(Fault.http(503, headers={"x-should-retry": "false"}))

    with pytest.raises(ProviderUnavailableError):
        await provider.chat(Secret(fake_xai.valid_key), ask("grok-4.3", "hi"))

    assert len(fake_xai.requests) == 1
