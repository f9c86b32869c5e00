"""OpenAI's lean client (chat and streams without the SDK) against the strict OpenAI fake.

What it must send is what OpenAI's Chat Completions reference documents for current
models; the fake refuses the deprecated ``max_tokens`` for reasoning models as the real API
does, so these tests would fail on a client sending it. The key goes in the
``Authorization`` header and nowhere else, not even when the provider answers with it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import httpx
import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import ByokError, InvalidKeyError, ProviderError
from byok.providers.base import Provider
from byok.secret import Secret
from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import Fault
from tests.providers.chat import ask, call, drain

pytestmark = pytest.mark.parametrize("provider_id", ["openai"])

REASONING = "gpt-5.6-terra"


async def _post(fake: FakeLLM, body: dict[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {fake.valid_key}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as client:
        return await client.post("/chat/completions", json=body)


async def test_the_fake_refuses_what_the_real_api_refuses(fake: FakeLLM) -> None:
    messages = [{"role": "user", "content": "hi"}]

    refused = await _post(fake, {"model": REASONING, "messages": messages, "max_tokens": 9})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "max_tokens"

    older = await _post(fake, {"model": "gpt-4o-mini", "messages": messages, "max_tokens": 9})
    assert older.status_code == 200  # deprecated, still taken by non-reasoning models

    options = {"include_usage": True}
    no_stream = await _post(
        fake, {"model": REASONING, "messages": messages, "stream_options": options}
    )
    assert no_stream.status_code == 400


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_reasoning_model_gets_max_completion_tokens(
    provider: Provider, fake: FakeLLM, key: Secret, streamed: bool
) -> None:
    await call(provider, key, ask(REASONING, "hi", max_tokens=50), streamed=streamed)

    body = fake.requests[-1].json()
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    assert ("stream_options" in body) is streamed


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_only_the_bearer_header_carries_the_key_and_no_operator_account(
    build: Callable[..., Provider],
    fake: FakeLLM,
    key: Secret,
    monkeypatch: pytest.MonkeyPatch,
    streamed: bool,
) -> None:
    # The operator's own OpenAI account must never be paired with a user's key.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-own-key")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-operator")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_operator")
    provider = build(fake)

    await call(provider, key, ask(REASONING, "hi"), streamed=streamed)
    await provider.list_models(key)  # through the SDK

    for recorded in fake.requests:
        assert recorded.headers["Authorization"] == f"Bearer {key.reveal()}"
        others = {k: v for k, v in recorded.headers.items() if k.lower() != "authorization"}
        assert key.reveal() not in repr(others)
        assert key.reveal() not in recorded.body.decode()
        assert "OpenAI-Organization" not in recorded.headers
        assert "OpenAI-Project" not in recorded.headers
        assert "sk-operator-own-key" not in repr(dict(recorded.headers))
    assert fake.requests[0].headers["Accept"] == (
        "text/event-stream" if streamed else "application/json"
    )


async def test_an_empty_key_is_refused_before_sending(provider: Provider, fake: FakeLLM) -> None:
    with pytest.raises(InvalidKeyError):
        await provider.chat(Secret(""), ask(REASONING, "hi"))
    with pytest.raises(InvalidKeyError):
        await drain(provider, Secret(""), ask(REASONING, "hi"))

    assert fake.requests == []


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_lost_connections_and_rate_limits_are_retried_with_their_wait(
    build: Callable[..., Provider], fake: FakeLLM, key: Secret, streamed: bool
) -> None:
    provider = build(fake, max_retries=3)
    fake.inject(Fault.disconnect())
    fake.inject(Fault.rate_limited(retry_after="0.01"))
    fake.inject(Fault.rate_limited(retry_after=None, retry_after_ms="5"))

    result = await call(provider, key, ask(REASONING, "hi"), streamed=streamed)

    assert result
    assert len(fake.requests) == 4


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_stream_ending_at_done_without_usage_is_not_a_complete_answer(
    provider: Provider, fake: FakeLLM, key: Secret, streamed: bool
) -> None:
    # OpenAI always sends usage when asked; without it the cost could not be known.
    fake.reports_usage = False  # type: ignore[attr-defined]

    if streamed:
        with pytest.raises(ProviderError):
            await drain(provider, key, ask(REASONING, "hi"))
    else:
        result = await provider.chat(key, ask(REASONING, "hi"))
        assert not result.usage.reported  # unknown, never $0


def _everything_about(err: BaseException) -> str:
    chain = "".join(traceback.format_exception(err))
    shown = COMMAND_HINTS.error_text(err) if isinstance(err, ByokError) else ""
    return "\n".join([str(err), repr(err), shown, chain])


def _echoing(key: str) -> object:
    """An error body that quotes the whole key (a proxy or a careless upstream could)."""
    message = f"Incorrect API key provided: {key}."
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


@pytest.mark.slow  # waits out a timeout
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_the_key_never_reaches_logs_or_exceptions_even_when_echoed(
    build: Callable[..., Provider],
    fake: FakeLLM,
    canary_key: str,
    caplog: pytest.LogCaptureFixture,
    streamed: bool,
) -> None:
    caplog.set_level(logging.DEBUG)  # every library's DEBUG lines too (httpx2, httpcore2)
    provider = build(fake, max_retries=1, timeout_s=0.5)
    canary = Secret(fake.add_key(canary_key))
    faults = [
        Fault.http(400, _echoing(canary_key)),
        Fault.http(401, _echoing(canary_key)),
        Fault.http(500, _echoing(canary_key), headers={"retry-after-ms": "1"}),
        Fault.disconnect(),
        Fault.stall(),
        Fault.malformed(),
    ]
    if streamed:
        faults.append(Fault.stream_error(after=1, status=400, message=_message(canary_key)))
    errors: list[BaseException] = []
    for fault in faults:
        fake.inject(fault, times=2)  # the retry meets it too
        with pytest.raises(ProviderError) as raised:
            await call(provider, canary, ask(REASONING, "hi"), streamed=streamed)
        errors.append(raised.value)
        fake.clear_faults()

    for err in errors:
        assert canary_key not in _everything_about(err)
    assert canary_key not in caplog.text
    assert all(canary_key not in str(r.args) for r in caplog.records)
    assert canary_key not in repr(provider)
    assert any(r.headers.get("Authorization") == f"Bearer {canary_key}" for r in fake.requests)


def _message(key: str) -> str:
    return f"Upstream refused the key {key}"
