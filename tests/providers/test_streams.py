"""Stream details: SSE framing, comment lines, errors inside a 200 stream, early exit."""

from __future__ import annotations

from contextlib import aclosing

import httpx
import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import (
    BadRequestError,
    ProviderUnavailableError,
    RateLimitedError,
    StreamInterruptedError,
)
from byok.providers.openai_compatible import _sse_data
from tests.fakes.fake_openrouter import PROCESSING, FakeOpenRouter
from tests.fakes.llm_script import Reply
from tests.fakes.loopback import Fault
from tests.providers.chat import Subject, ask, drain


async def _data(raw: bytes) -> list[str]:
    return [d async for d in _sse_data(httpx.Response(200, content=raw))]


async def test_sse_parser_follows_the_spec() -> None:
    raw = (
        b": OPENROUTER PROCESSING\n\n"
        b'data: {"a": 1}\n\n'
        b'data:{"b": 2}\r\n\r\n'  # no space after the colon, CRLF
        b"event: x\nid: 7\ndata: line1\ndata: line2\n\n"
        b": keep-alive\n"
        b"data: [DONE]\n\n"
        b'data: {"unterminated": true}'
    )  # no blank line: dropped

    assert await _data(raw) == ['{"a": 1}', '{"b": 2}', "line1\nline2", "[DONE]"]


@pytest.mark.parametrize("provider_id", ["openrouter"])
async def test_openrouter_comment_lines_are_skipped(subject: Subject) -> None:
    events = FakeOpenRouter().stream_events(Reply(), "openrouter/auto", True)
    assert events.count(PROCESSING) >= 2  # the fake really sends them

    chunks = await drain(subject.provider, subject.key, ask("openrouter/auto", "hi"))

    assert "".join(c.text for c in chunks) == Reply().text


@pytest.mark.parametrize("provider_id", ["openrouter"])
async def test_openrouter_error_in_a_200_body_is_an_error(subject: Subject) -> None:
    body = {
        "id": "gen-1",
        "model": "openai/gpt-5.6-terra",
        "error": {"code": 502, "message": "Provider returned error"},
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "error"}
        ],
    }
    subject.fake.inject(Fault.http(200, body))

    with pytest.raises(ProviderUnavailableError):
        await subject.provider.chat(subject.key, ask("openrouter/auto", "hi"))


@pytest.mark.parametrize("provider_id", ["openrouter"])
async def test_openrouter_rate_limit_inside_the_stream(subject: Subject) -> None:
    fake = subject.fake
    fake.inject(Fault.stream_error(after=fake.events_before_text, status=429))

    with pytest.raises(RateLimitedError):
        await drain(subject.provider, subject.key, ask("openrouter/auto", "hi"))


@pytest.mark.parametrize("provider_id", ["openrouter"])
async def test_openrouter_error_after_text_is_not_a_short_answer(subject: Subject) -> None:
    fake = subject.fake
    fake.inject(Fault.stream_error(after=fake.events_before_text + 1, status=502))
    texts: list[str] = []

    with pytest.raises(StreamInterruptedError):
        async for chunk in subject.provider.stream(subject.key, ask("openrouter/auto", "hi")):
            texts.append(chunk.text)

    assert texts == ["Hello"]


async def test_stream_ending_without_its_end_marker_is_interrupted(subject: Subject) -> None:
    # The body ends cleanly but the provider's own end (usage + [DONE], message_stop, a
    # finishReason) never came: that is a broken answer, not a short one.
    subject.fake.inject(Fault.truncate())
    texts: list[str] = []

    with pytest.raises(StreamInterruptedError):
        async for chunk in subject.provider.stream(subject.key, ask(subject.fake.models[0], "hi")):
            texts.append(chunk.text)

    assert texts


async def test_consumer_may_stop_early_and_keep_using_the_provider(subject: Subject) -> None:
    model = subject.fake.models[0]
    async with aclosing(subject.provider.stream(subject.key, ask(model, "hi"))) as stream:
        async for chunk in stream:
            assert chunk.text
            break

    result = await subject.provider.chat(subject.key, ask(model, "again"))

    assert result.text == Reply().text


@pytest.mark.parametrize("provider_id", ["google"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_prompt_gemini_blocks_is_a_refusal_not_an_outage(
    subject: Subject, streamed: bool
) -> None:
    subject.fake.reply(finish_reason="blocked", input_tokens=9)
    request = ask(subject.fake.models[0], "something its filters block")
    with pytest.raises(BadRequestError) as raised:
        if streamed:
            await drain(subject.provider, subject.key, request)
        else:
            await subject.provider.chat(subject.key, request)
    assert "Gemini blocked the prompt (safety)" in COMMAND_HINTS.error_text(raised.value)
    assert not raised.value.retryable  # not resent to another provider unasked
