"""The ``cache_prefix`` hint reaches the wire only where caching must be asked for.

Anthropic caches a prefix only when the request marks it with ``cache_control`` and the
prefix is at least the model's minimum cacheable length; OpenAI, Gemini, xAI and
OpenRouter cache on their own, so the hint leaves their request bodies as they were.
"""

from __future__ import annotations

import pytest

from byok.pricing import estimate_input_tokens
from byok.providers.anthropic import min_cacheable_tokens
from byok.types import ChatMessage, ChatRequest
from tests.providers.chat import Subject, drain

EPHEMERAL = {"type": "ephemeral"}


def _system(tokens: int) -> str:
    """A system prompt the high-side estimate puts at exactly ``tokens`` (with framing)."""
    text = "abc" * (tokens - 8)
    assert estimate_input_tokens([ChatMessage("system", text)]) == tokens
    return text


def _request(model: str, system: str, *, marked: bool = True) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=(
            ChatMessage("system", system, cache_prefix=marked),
            ChatMessage("user", "Part 2 of 3: summarise it."),
        ),
    )


async def _body(subject: Subject, request: ChatRequest, streamed: bool) -> dict[str, object]:
    if streamed:
        await drain(subject.provider, subject.key, request)
    else:
        await subject.provider.chat(subject.key, request)
    return subject.fake.requests[-1].json()


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_the_hint_changes_no_body_but_anthropics(subject: Subject, streamed: bool) -> None:
    model = subject.fake.models[0]
    system = _system(5000)  # long enough for any model

    marked = await _body(subject, _request(model, system), streamed)
    plain = await _body(subject, _request(model, system, marked=False), streamed)

    if subject.provider_id != "anthropic":
        assert marked == plain
        assert "cache_control" not in str(marked)
        return
    assert plain["system"] == system
    assert marked["system"] == [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    assert {k: v for k, v in marked.items() if k != "system"} == {
        k: v for k, v in plain.items() if k != "system"
    }


@pytest.mark.parametrize("provider_id", ["anthropic"])
@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-sonnet-4-5", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-sonnet-4-6", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("claude-haiku-4-5", 4096),
        ("claude-opus-4-7", 4096),
    ],
)
async def test_a_prefix_shorter_than_the_model_caches_is_not_marked(
    subject: Subject, model: str, minimum: int
) -> None:
    assert min_cacheable_tokens(model) == minimum
    if model not in subject.fake.models:
        subject.fake.models.append(model)

    short = await _body(subject, _request(model, _system(minimum - 1)), streamed=False)
    enough = await _body(subject, _request(model, _system(minimum)), streamed=False)

    assert isinstance(short["system"], str)
    assert enough["system"] == [
        {"type": "text", "text": _system(minimum), "cache_control": EPHEMERAL}
    ]
