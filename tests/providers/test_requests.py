"""Messages and system prompts reach each provider in its own wire shape.

Asserted on the request bodies the fakes recorded: Anthropic's top-level ``system``,
Gemini's ``systemInstruction`` and ``model`` role, merged same-role turns where turns must
alternate, and each API's names for the token limit and streaming options.
"""

from __future__ import annotations

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import BadRequestError
from byok.types import ChatMessage, ChatRequest
from tests.fakes.loopback import Fault
from tests.providers.chat import Subject, ask, drain

# user, user, assistant, assistant, user: two runs that must be merged for Anthropic/Gemini.
MESSAGES = (
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "First question."),
    ChatMessage("user", "And a second one."),
    ChatMessage("assistant", "Answer one."),
    ChatMessage("assistant", "Answer two."),
    ChatMessage("system", "Use British spelling."),
    ChatMessage("user", "Thanks, and colour?"),
)


def _request(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=MESSAGES, max_tokens=77, temperature=0.25)


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_request_body_is_translated(subject: Subject, streamed: bool) -> None:
    model = subject.fake.models[0]
    if streamed:
        await drain(subject.provider, subject.key, _request(model))
    else:
        await subject.provider.chat(subject.key, _request(model))

    (recorded,) = subject.fake.requests
    body = recorded.json()
    check = {
        "openai": _openai,
        "xai": _compatible,
        "openrouter": _compatible,
        "anthropic": _anthropic,
        "google": _gemini,
    }[subject.provider_id]
    check(body, model, streamed)
    if subject.provider_id == "google":
        action = "streamGenerateContent" if streamed else "generateContent"
        assert recorded.path == f"/v1beta/models/{model}:{action}"
        assert recorded.query == ({"alt": "sse"} if streamed else {})


def _as_openai() -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in MESSAGES]


def _openai(body: dict[str, object], model: str, streamed: bool) -> None:
    assert body["model"] == model
    assert body["messages"] == _as_openai()  # order and roles untouched
    assert body["max_completion_tokens"] == 77
    assert "max_tokens" not in body
    assert body["temperature"] == 0.25
    if streamed:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}


def _compatible(body: dict[str, object], model: str, streamed: bool) -> None:
    assert body["model"] == model
    assert body["messages"] == _as_openai()
    assert body["max_tokens"] == 77
    assert body["temperature"] == 0.25
    if streamed:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in body


MERGED = [
    ("user", "First question.\n\nAnd a second one."),
    ("assistant", "Answer one.\n\nAnswer two."),
    ("user", "Thanks, and colour?"),
]


def _anthropic(body: dict[str, object], model: str, streamed: bool) -> None:
    assert body["model"] == model
    assert body["system"] == "Be brief.\n\nUse British spelling."
    assert body["messages"] == [{"role": r, "content": t} for r, t in MERGED]
    assert body["max_tokens"] == 77
    assert "temperature" not in body  # API 2026-10-21 answers 400 to any sampling parameter
    assert body.get("stream", False) is streamed


def _gemini(body: dict[str, object], model: str, streamed: bool) -> None:
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be brief.\n\nUse British spelling."}],
        "role": "user",
    }
    assert body["contents"] == [
        {"role": "user" if r == "user" else "model", "parts": [{"text": t}]} for r, t in MERGED
    ]
    assert body["generationConfig"] == {"maxOutputTokens": 77, "temperature": 0.25}


@pytest.mark.parametrize("provider_id", ["anthropic"])
async def test_anthropic_requires_max_tokens_so_a_default_is_sent(subject: Subject) -> None:
    await subject.provider.chat(subject.key, ask(subject.fake.models[0], "hi"))

    assert subject.fake.requests[0].json()["max_tokens"] == 4096


async def test_unset_options_are_not_sent(subject: Subject) -> None:
    await subject.provider.chat(subject.key, ask(subject.fake.models[0], "hi"))

    body = subject.fake.requests[0].json()
    for name in ("temperature", "max_completion_tokens", "system", "systemInstruction"):
        assert name not in body
    assert body.get("generationConfig", {}) == {}


@pytest.mark.parametrize("provider_id", ["anthropic", "google"])
async def test_system_only_conversation_is_refused_before_sending(subject: Subject) -> None:
    request = ChatRequest(subject.fake.models[0], (ChatMessage("system", "Only rules."),))

    with pytest.raises(BadRequestError):
        await subject.provider.chat(subject.key, request)

    assert subject.fake.requests == []


@pytest.mark.parametrize("provider_id", ["anthropic"])
async def test_anthropic_sends_sdk_2_auth_and_version(subject: Subject) -> None:
    await subject.provider.chat(subject.key, ask(subject.fake.models[0], "hi"))

    headers = subject.fake.requests[0].headers
    assert headers["Authorization"] == f"Bearer {subject.key.reveal()}"
    assert headers["anthropic-version"]


async def test_rejected_temperature_is_explained(subject: Subject) -> None:
    # e.g. OpenAI reasoning models: "Unsupported value: 'temperature' does not support 0.2".
    message = "Unsupported value: 'temperature' does not support 0.2 with this model."
    body: object = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "unsupported_value",
        }
    }
    if subject.provider_id == "xai":
        body = {"code": "Client specified an invalid argument", "error": message}
    subject.fake.inject(Fault.http(400, body))

    with pytest.raises(BadRequestError) as raised:
        await subject.provider.chat(subject.key, ask(subject.fake.models[0], "hi"))

    assert "temperature" in COMMAND_HINTS.error_text(raised.value)
