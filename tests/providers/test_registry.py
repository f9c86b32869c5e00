"""Provider ids, aliases, settings and construction, including a sixth, operator-named
OpenAI-compatible endpoint (Ollama, vLLM, LM Studio)."""

from __future__ import annotations

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import ConfigError, UnknownProviderError
from byok.pricing import price_of
from byok.providers.anthropic import AnthropicProvider
from byok.providers.base import Provider
from byok.providers.google import GoogleProvider
from byok.providers.openai import OpenAIProvider
from byok.providers.openai_compatible import OpenAICompatibleProvider
from byok.providers.openrouter import OpenRouterProvider
from byok.providers.registry import (
    BUILTIN_PROVIDER_IDS,
    BUILTIN_PROVIDERS,
    build_provider,
    build_providers,
    provider_settings,
    resolve_provider_id,
)
from byok.providers.xai import XAIProvider
from byok.secret import Secret
from byok.types import Usage
from tests.fakes.llm_script import FakeLLM
from tests.providers.chat import ask, drain

FIVE = ("openai", "anthropic", "google", "xai", "openrouter")


def test_the_five_builtin_providers_and_their_documented_base_urls() -> None:
    assert BUILTIN_PROVIDER_IDS == FIVE
    assert {pid: s.base_url for pid, s in BUILTIN_PROVIDERS.items()} == {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com",
        "google": "https://generativelanguage.googleapis.com",
        "xai": "https://api.x.ai/v1",
        "openrouter": "https://openrouter.ai/api/v1",
    }


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("gpt", "openai"),
        ("chatgpt", "openai"),
        ("claude", "anthropic"),
        ("gemini", "google"),
        ("grok", "xai"),
        (" Grok ", "xai"),
        ("openrouter", "openrouter"),
    ],
)
def test_names_users_type(typed: str, expected: str) -> None:
    assert resolve_provider_id(typed) == expected


def test_configured_extra_provider_is_a_valid_name() -> None:
    assert resolve_provider_id("ollama", configured=["ollama", "openai"]) == "ollama"


def test_unknown_provider_lists_the_choices() -> None:
    with pytest.raises(UnknownProviderError) as raised:
        resolve_provider_id("mistral", configured=["ollama"])

    assert raised.value.known == (*FIVE, "ollama")
    for name in FIVE:
        assert name in COMMAND_HINTS.error_text(raised.value)


def test_settings_override_only_what_is_given() -> None:
    settings = provider_settings("xai", timeout_s=12.5, max_retries=0)

    assert settings.base_url == "https://api.x.ai/v1"
    assert settings.default_model == BUILTIN_PROVIDERS["xai"].default_model
    assert (settings.timeout_s, settings.max_retries) == (12.5, 0)
    assert settings.wire == "openai-compatible"


def test_extra_provider_needs_base_url_and_default_model() -> None:
    with pytest.raises(ConfigError):
        provider_settings("ollama", base_url="http://127.0.0.1:11434/v1")

    settings = provider_settings(
        "ollama", base_url="http://127.0.0.1:11434/v1", default_model="llama3.3"
    )
    assert settings.wire == "openai-compatible"


async def test_each_wire_builds_its_provider() -> None:
    providers = build_providers(BUILTIN_PROVIDERS.values())
    try:
        assert {pid: type(p) for pid, p in providers.items()} == {
            "openai": OpenAIProvider,
            "anthropic": AnthropicProvider,
            "google": GoogleProvider,
            "xai": XAIProvider,
            "openrouter": OpenRouterProvider,
        }
        assert all(isinstance(p, Provider) for p in providers.values())
    finally:
        for provider in providers.values():
            await provider.aclose()


async def test_a_builtin_told_to_speak_another_wire_gets_that_wires_class() -> None:
    provider = build_provider(provider_settings("xai", wire="openai"))
    try:
        assert type(provider) is OpenAIProvider
    finally:
        await provider.aclose()


async def test_a_sixth_named_endpoint_without_keys(fake_openai: FakeLLM) -> None:
    # e.g. [providers.ollama] base_url = "http://127.0.0.1:11434/v1", requires_user_key=false
    fake_openai.open_access = True
    settings = provider_settings(
        "ollama", base_url=fake_openai.base_url, default_model="gpt-5.6-terra", max_retries=0
    )
    provider = build_provider(settings)
    try:
        assert type(provider) is OpenAICompatibleProvider
        result = await provider.chat(Secret(""), ask("gpt-5.6-terra", "hi"))
        final = (await drain(provider, Secret(""), ask("gpt-5.6-terra", "hi")))[-1]
        models = await provider.list_models(Secret(""))
    finally:
        await provider.aclose()

    assert result.provider_id == "ollama"
    assert final.usage is not None and final.usage.input_tokens == 11
    assert [m.id for m in models] == fake_openai.models
    assert all("Authorization" not in r.headers for r in fake_openai.requests)


async def test_an_endpoint_that_reports_no_usage_gives_an_unknown_cost(
    fake_openai: FakeLLM,
) -> None:
    fake_openai.open_access = True
    fake_openai.reports_usage = False
    settings = provider_settings(
        "ollama", base_url=fake_openai.base_url, default_model="gpt-5.6-terra", max_retries=0
    )
    provider = build_provider(settings)
    try:
        result = await provider.chat(Secret(""), ask("gpt-5.6-terra", "hi"))
        final = (await drain(provider, Secret(""), ask("gpt-5.6-terra", "hi")))[-1]
    finally:
        await provider.aclose()

    for usage in (result.usage, final.usage):
        assert usage is not None and not usage.reported
        assert price_of("openai", "gpt-5.6-terra", usage) is None  # unknown, never $0
    assert price_of("openai", "gpt-5.6-terra", Usage(input_tokens=0, output_tokens=0)) == 0
