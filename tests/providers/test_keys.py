"""Key checks: the documented cheapest endpoint, spending no tokens, and a precise reason
when a key is refused (invalid, revoked, blocked, no permission, no credit, network).

Also: the key travels only in the request headers, never in a URL or a body.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import (
    InvalidKeyError,
    ProviderQuotaError,
    ProviderUnavailableError,
    RateLimitedError,
)
from byok.providers.failures import UNREACHABLE
from byok.providers.google import GoogleProvider
from byok.providers.registry import build_provider
from byok.secret import Secret
from byok.types import KeyInfo
from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import Fault
from tests.fakes.plugin import settings_for
from tests.providers.chat import Subject, ask, call, drain

KEY_CHECK_PATH = {
    "openai": "/v1/models",
    "anthropic": "/v1/models",
    "google": "/v1beta/models",
    "xai": "/v1/api-key",
    "openrouter": "/api/v1/key",
}


async def test_valid_key_is_checked_on_the_documented_endpoint(subject: Subject) -> None:
    info = await subject.provider.validate_key(subject.key)

    assert isinstance(info, KeyInfo)
    assert info.provider_id == subject.provider_id
    (recorded,) = subject.fake.requests
    assert (recorded.method, recorded.path) == ("GET", KEY_CHECK_PATH[subject.provider_id])
    assert not recorded.body  # a GET: nothing generated, no tokens spent


@pytest.mark.parametrize("provider_id", ["openai", "anthropic", "google"])
async def test_key_check_lists_the_chat_models(subject: Subject) -> None:
    info = await subject.provider.validate_key(subject.key)

    # Gemini's list also has an embedding model, which cannot chat.
    assert sorted(info.models) == sorted(subject.fake.models)


@pytest.mark.parametrize("provider_id", ["openrouter"])
async def test_openrouter_key_reports_credit_limit_and_remaining(subject: Subject) -> None:
    key = subject.fake.add_key(label="team bot", limit=25, limit_remaining=7.5, usage=17.5)

    info = await subject.provider.validate_key(Secret(key))

    assert info.label == "team bot"
    assert info.credit_limit == Decimal("25")
    assert info.credit_remaining == Decimal("7.5")


@pytest.mark.parametrize("provider_id", ["openrouter"])
async def test_openrouter_key_without_limit_has_no_credit_figures(subject: Subject) -> None:
    info = await subject.provider.validate_key(subject.key)

    assert info.credit_limit is None and info.credit_remaining is None


@pytest.mark.parametrize("provider_id", ["openrouter"])
async def test_openrouter_key_with_no_credit_left_is_refused(subject: Subject) -> None:
    key = subject.fake.add_key(limit=10, limit_remaining=0)

    with pytest.raises(ProviderQuotaError):
        await subject.provider.validate_key(Secret(key))


async def test_unknown_key_is_invalid(subject: Subject) -> None:
    with pytest.raises(InvalidKeyError) as raised:
        await subject.provider.validate_key(Secret(subject.fake.key_prefix + "not-a-real-key"))

    assert raised.value.reason == "invalid"
    # Gemini and xAI say so with 400, not 401.
    expected = 400 if subject.provider_id in ("google", "xai") else 401
    assert subject.fake.bad_key_fault().status == expected


# (provider, key status) -> the reason the user is told. Providers without a distinct
# signal for a status are left out rather than guessed.
REASONS = {
    ("openai", "revoked"): "revoked",
    ("openai", "no_permission"): "no_permission",
    ("anthropic", "revoked"): "revoked",
    ("anthropic", "no_permission"): "no_permission",
    ("google", "revoked"): "revoked",
    ("google", "blocked"): "blocked",
    ("google", "no_permission"): "no_permission",
    ("xai", "revoked"): "revoked",
    ("xai", "blocked"): "blocked",
    ("openrouter", "revoked"): "revoked",
    ("openrouter", "blocked"): "blocked",
}


@pytest.mark.parametrize(("provider_id", "status"), list(REASONS))
async def test_refused_key_says_why(subject: Subject, status: str) -> None:
    key = Secret(subject.fake.add_key(status=status))

    with pytest.raises(InvalidKeyError) as raised:
        await subject.provider.validate_key(key)

    assert raised.value.reason == REASONS[(subject.provider_id, status)]
    assert "/byok add" in COMMAND_HINTS.error_text(raised.value)


@pytest.mark.parametrize("provider_id", ["openai", "anthropic", "xai", "openrouter"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_key_without_credit_is_reported_as_no_credit(
    subject: Subject, streamed: bool
) -> None:
    # OpenAI: 429 insufficient_quota; Anthropic: 400 "credit balance is too low";
    # xAI: 429 "used all available credits"; OpenRouter: 402.
    key = Secret(subject.fake.add_key(status="no_credit", limit=5))

    with pytest.raises(ProviderQuotaError) as raised:
        await call(subject.provider, key, ask(subject.fake.models[0], "hi"), streamed=streamed)

    assert "credit" in COMMAND_HINTS.error_text(raised.value)


@pytest.mark.parametrize("provider_id", ["google"])
async def test_gemini_quota_429_is_a_rate_limit_with_its_retry_delay(subject: Subject) -> None:
    # Gemini words every 429 as "exceeded your current quota ... billing"; it is a wait.
    subject.fake.inject(Fault.http(429))

    with pytest.raises(RateLimitedError) as raised:
        await subject.provider.chat(subject.key, ask(subject.fake.models[0], "hi"))

    assert raised.value.retry_after == 47.0


async def test_unreachable_provider_is_a_network_problem(subject: Subject) -> None:
    await subject.fake.stop()

    with pytest.raises(ProviderUnavailableError) as raised:
        await subject.provider.validate_key(subject.key)

    assert raised.value.what == UNREACHABLE
    assert raised.value.retryable


async def test_key_check_fault_is_translated(subject: Subject) -> None:
    subject.fake.inject(Fault.http(503))

    with pytest.raises(ProviderUnavailableError):
        await subject.provider.validate_key(subject.key)


async def test_gemini_key_check_also_works_on_v1(
    fake_gemini: FakeLLM,
) -> None:
    provider = GoogleProvider(settings_for(fake_gemini), api_version="v1")
    try:
        info = await provider.validate_key(Secret(fake_gemini.valid_key))
    finally:
        await provider.aclose()

    assert info.models
    assert fake_gemini.requests[0].path == "/v1/models"


# The compatible client sends keyless requests instead (local endpoints): test_registry.
@pytest.mark.parametrize("provider_id", ["openai", "anthropic", "google"])
async def test_empty_key_is_refused_without_a_request(subject: Subject) -> None:
    with pytest.raises(InvalidKeyError):
        await subject.provider.chat(Secret(""), ask(subject.fake.models[0], "hi"))

    assert subject.fake.requests == []


# -- the key travels only in headers ----------------------------------------------------

AUTH_HEADER = {
    "openai": "Authorization",
    "anthropic": "Authorization",  # SDK 2.x; 0.x/1.x used x-api-key
    "google": "x-goog-api-key",
    "xai": "Authorization",
    "openrouter": "Authorization",
}


async def test_key_is_only_in_a_header(subject: Subject) -> None:
    model = subject.fake.models[0]
    await subject.provider.chat(subject.key, ask(model, "hi"))
    await drain(subject.provider, subject.key, ask(model, "hi"))
    await subject.provider.validate_key(subject.key)
    await subject.provider.list_models(subject.key)
    subject.fake.inject(Fault.http(500))
    with pytest.raises(ProviderUnavailableError):
        await subject.provider.chat(subject.key, ask(model, "hi"))

    secret = subject.key.reveal()
    header = AUTH_HEADER[subject.provider_id]
    assert len(subject.fake.requests) >= 5
    for recorded in subject.fake.requests:
        assert secret not in recorded.url, "key in a URL or query string"
        assert "key" not in recorded.query
        assert secret.encode() not in recorded.body
        value = recorded.headers[header]
        assert value in (secret, f"Bearer {secret}")
        others = [v for k, v in recorded.headers.items() if k.lower() != header.lower()]
        assert not any(secret in v for v in others)


ENVIRONMENT = [
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "XAI_API_KEY",
    "OPENROUTER_API_KEY",
]


async def test_operator_environment_never_reaches_a_users_request(
    subject: Subject, canary_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator's own keys and account live in the environment (operator_key);
    # SDKs read those variables by default. A user's request must carry only the user's.
    for name in ENVIRONMENT:
        monkeypatch.setenv(name, canary_key)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-operator")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-operator")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/elsewhere")
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1")
    provider = build_provider(settings_for(subject.fake))
    try:
        await provider.chat(subject.key, ask(subject.fake.models[0], "hi"))
        await provider.validate_key(subject.key)
    finally:
        await provider.aclose()

    for recorded in subject.fake.requests:
        text = str(dict(recorded.headers)) + recorded.url + recorded.body.decode()
        assert canary_key not in text
        assert "operator" not in text
    assert subject.fake.requests[0].path.startswith(
        {"google": "/v1beta/", "openrouter": "/api/v1/"}.get(subject.provider_id, "/v1/")
    )
