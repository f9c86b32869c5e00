"""Every provider against every injected fault, streamed and not.

Each fault maps to one error of :mod:`byok.errors`, and the fake receives exactly one
request (retries are off here; ``test_retries`` covers them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import (
    BadRequestError,
    InvalidKeyError,
    ProviderError,
    ProviderQuotaError,
    ProviderUnavailableError,
    RateLimitedError,
    StreamInterruptedError,
)
from byok.providers.base import Provider
from byok.providers.failures import CONNECTION_LOST, UNREADABLE
from byok.secret import Secret
from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import Fault
from tests.providers.chat import Subject, ask, call, drain
from tests.providers.conftest import TIMEOUT_S


@dataclass(frozen=True)
class Case:
    fault: Callable[[FakeLLM], Fault]
    error: type[ProviderError]
    attrs: dict[str, Any]


def _mid_answer(fake: FakeLLM) -> int:
    """An event index after two pieces of text have gone out."""
    return fake.events_before_text + 2


CASES: dict[str, Case] = {
    "401": Case(lambda f: Fault.http(401), InvalidKeyError, {"reason": "invalid"}),
    "403": Case(lambda f: Fault.http(403), InvalidKeyError, {"reason": "no_permission"}),
    "429": Case(lambda f: Fault.rate_limited("7"), RateLimitedError, {"retry_after": 7.0}),
    "500": Case(lambda f: Fault.http(500), ProviderUnavailableError, {"what": "server error 500"}),
    "503": Case(lambda f: Fault.http(503), ProviderUnavailableError, {"what": "server error 503"}),
    "stall": Case(
        lambda f: Fault.stall(),
        ProviderUnavailableError,
        {"what": f"no answer within {TIMEOUT_S:g} s"},
    ),
    "malformed": Case(lambda f: Fault.malformed(), ProviderUnavailableError, {"what": UNREADABLE}),
    "cut": Case(
        lambda f: Fault.cut(after=_mid_answer(f)),
        ProviderUnavailableError,
        {"what": CONNECTION_LOST},
    ),
    "disconnect": Case(
        lambda f: Fault.disconnect(), ProviderUnavailableError, {"what": CONNECTION_LOST}
    ),
    "bad_key": Case(lambda f: f.bad_key_fault(), InvalidKeyError, {"reason": "invalid"}),
}

# Where a provider's own semantics differ from the table above.
EXCEPTIONS: dict[tuple[str, str], Case] = {
    # OpenRouter's 403 means its moderation flagged the input, not a key problem.
    ("openrouter", "403"): Case(
        lambda f: Fault.http(403), BadRequestError, {"what": "its moderation flagged the input"}
    ),
    # Gemini's 429 carries RetryInfo ("47s"), which wins over the header.
    ("google", "429"): Case(
        lambda f: Fault.rate_limited("7"), RateLimitedError, {"retry_after": 47.0}
    ),
}


def _slow_if_stall(name: str) -> Any:
    """A stall waits out the client's timeout, a second: slow (left out of --quick)."""
    return pytest.param(name, marks=pytest.mark.slow) if name == "stall" else name


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("case_name", [_slow_if_stall(name) for name in CASES])
async def test_fault_becomes_the_right_error(
    subject: Subject, case_name: str, streamed: bool
) -> None:
    provider_id, fake, provider, key = (
        subject.provider_id,
        subject.fake,
        subject.provider,
        subject.key,
    )
    case = EXCEPTIONS.get((provider_id, case_name), CASES[case_name])
    fake.inject(case.fault(fake))

    with pytest.raises(case.error) as raised:
        await call(provider, key, ask(fake.models[0], "hi"), streamed=streamed)

    err = raised.value
    expected_type = case.error
    if streamed and case_name == "cut":
        expected_type = StreamInterruptedError  # text had already arrived
    assert type(err) is expected_type
    for name, value in case.attrs.items():
        assert getattr(err, name) == value
    assert err.provider_id == provider_id
    assert COMMAND_HINTS.error_text(err)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "fault_name", [_slow_if_stall(name) for name in ("cut", "stall", "malformed", "error_event")]
)
async def test_stream_broken_after_text_is_interrupted_not_short(
    build: Callable[..., Provider], fake: FakeLLM, key: Secret, fault_name: str
) -> None:
    provider = build(fake, timeout_s=TIMEOUT_S)
    after = _mid_answer(fake)
    fault = {
        "cut": Fault.cut(after=after),
        "stall": Fault.stall(after=after),
        "malformed": Fault.malformed(after=after),
        "error_event": Fault.stream_error(after=after, status=502),
    }[fault_name]
    fake.inject(fault)
    received: list[str] = []

    with pytest.raises(StreamInterruptedError) as raised:
        async for chunk in provider.stream(key, ask(fake.models[0], "hi")):
            assert not chunk.is_final, "a broken stream must not end with usage"
            received.append(chunk.text)

    assert received, "some text arrived before the break"
    assert "stopped in the middle" in COMMAND_HINTS.error_text(raised.value)


async def test_stream_error_before_any_text_is_the_error_itself(
    provider: Provider, fake: FakeLLM, key: Secret
) -> None:
    fake.inject(Fault.stream_error(after=fake.events_before_text, status=503))

    with pytest.raises(ProviderError) as raised:
        await drain(provider, key, ask(fake.models[0], "hi"))

    assert not isinstance(raised.value, StreamInterruptedError)
    assert raised.value.retryable


async def test_openrouter_402_is_no_credit(
    build: Callable[..., Provider], fake_openrouter: FakeLLM
) -> None:
    provider = build(fake_openrouter)
    for streamed in (False, True):
        fake_openrouter.inject(Fault.http(402))
        with pytest.raises(ProviderQuotaError):
            await call(
                provider,
                Secret(fake_openrouter.valid_key),
                ask("openrouter/auto", "hi"),
                streamed=streamed,
            )


async def test_anthropic_529_is_overloaded(
    build: Callable[..., Provider], fake_anthropic: FakeLLM
) -> None:
    provider = build(fake_anthropic)
    for streamed in (False, True):
        fake_anthropic.inject(Fault.http(529))
        with pytest.raises(ProviderUnavailableError) as raised:
            await call(
                provider,
                Secret(fake_anthropic.valid_key),
                ask("claude-sonnet-4-6", "hi"),
                streamed=streamed,
            )
        assert raised.value.what == "overloaded"


@pytest.mark.parametrize("fake_name", ["fake_gemini", "fake_xai"])
def test_gemini_and_xai_refuse_a_bad_key_with_400(
    request: pytest.FixtureRequest, fake_name: str
) -> None:
    fake: FakeLLM = request.getfixturevalue(fake_name)
    assert fake.bad_key_fault().status == 400


async def test_context_too_long_is_a_bad_request(
    provider: Provider, fake: FakeLLM, key: Secret, provider_id: str
) -> None:
    message = "This model's maximum context length is 128000 tokens."
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    if provider_id == "xai":
        body = {"code": "Client specified an invalid argument", "error": message}  # type: ignore[dict-item]
    fake.inject(Fault.http(400, body))

    with pytest.raises(BadRequestError) as raised:
        await provider.chat(key, ask(fake.models[0], "hi"))

    assert raised.value.what == "the conversation is too long for this model"
