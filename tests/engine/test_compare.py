"""Asking several providers at once: each its own attempt, row, limit and failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from byok.answers import Answer, CompareEvent, CompareFailure, Comparing, TextDelta
from byok.errors import (
    ByokError,
    NoKeyError,
    ProviderUnavailableError,
    SpendLimitError,
    StreamInterruptedError,
    UnknownProviderError,
)
from tests.engine.conftest import MakeRig, Rig
from tests.fakes.loopback import Fault
from tests.ops.harness import poll

QUESTION = [{"role": "user", "content": "Explain TCP slow start."}]
THREE = ("openai", "anthropic", "google")


def chat_requests(rig: Rig, provider: str) -> int:
    return sum(1 for r in rig.fakes[provider].requests if r.method == "POST")


async def run(events: AsyncIterator[CompareEvent]) -> list[CompareEvent]:
    return [event async for event in events]


def endings(events: list[CompareEvent]) -> dict[str, Answer | CompareFailure]:
    return {e.provider_id: e for e in events if isinstance(e, (Answer, CompareFailure))}


@pytest.fixture
async def three(rig: Rig) -> Rig:
    for provider in THREE:
        await rig.add_key(provider)
    # Fallback on everywhere: a comparison must still never fall back.
    await rig.service().set_preferences(auto_switch_provider=True)
    return rig


async def test_each_provider_answers_in_its_own_attempt(three: Rig) -> None:
    rig = three
    rig.fakes["openai"].reply(text="one two three", input_tokens=5, output_tokens=3)
    rig.fakes["anthropic"].reply(text="alpha beta", input_tokens=6, output_tokens=2)
    rig.fakes["google"].reply(text="uno dos", input_tokens=7, output_tokens=2)
    events = await run(rig.service().compare(QUESTION, providers=["openai", "claude", "gemini"]))
    assert events[0] == Comparing(THREE)
    done = endings(events)
    assert {p: a.text for p, a in done.items() if isinstance(a, Answer)} == {
        "openai": "one two three",
        "anthropic": "alpha beta",
        "google": "uno dos",
    }
    # Every delta is tagged, and each provider's deltas make its answer.
    for provider, answer in done.items():
        text = "".join(
            e.text for e in events if isinstance(e, TextDelta) and e.provider_id == provider
        )
        assert text == answer.text  # type: ignore[union-attr]
        # Its deltas all come before its answer.
        last_delta = max(
            i
            for i, e in enumerate(events)
            if isinstance(e, TextDelta) and e.provider_id == provider
        )
        assert last_delta < events.index(answer)
    rows = await rig.usage_rows()
    assert sorted((r["provider"], r["outcome"], r["request_kind"]) for r in rows) == [
        ("anthropic", "success", "compare"),
        ("google", "success", "compare"),
        ("openai", "success", "compare"),
    ]
    assert len({r["request_id"] for r in rows}) == 3  # three requests, not one with fallbacks
    assert not any(r["is_fallback"] for r in rows)


async def test_one_failing_shows_its_failure_in_its_place_without_fallback(three: Rig) -> None:
    rig = three
    rig.fakes["openai"].inject(Fault.http(503))
    events = await run(rig.service().compare(QUESTION, providers=THREE))
    done = endings(events)
    failure = done["openai"]
    assert isinstance(failure, CompareFailure)
    assert isinstance(failure.error, ProviderUnavailableError)
    assert isinstance(done["anthropic"], Answer) and isinstance(done["google"], Answer)
    assert not done["anthropic"].fell_back
    # No fallback: nobody was asked twice, nor anyone outside the set.
    assert chat_requests(rig, "anthropic") == 1 and chat_requests(rig, "google") == 1
    assert chat_requests(rig, "xai") == 0
    rows = await rig.usage_rows()
    assert sorted((r["provider"], r["outcome"]) for r in rows) == [
        ("anthropic", "success"),
        ("google", "success"),
        ("openai", "error"),
    ]


async def test_one_timing_out_fails_alone(make_rig: MakeRig) -> None:
    rig = await make_rig(timeout_s=0.5)
    for provider in THREE:
        await rig.add_key(provider)
    rig.fakes["google"].inject(Fault.stall())
    events = await run(rig.service().compare(QUESTION, providers=THREE))
    done = endings(events)
    failure = done["google"]
    assert isinstance(failure, CompareFailure)
    assert isinstance(failure.error, ProviderUnavailableError)
    assert isinstance(done["openai"], Answer) and isinstance(done["anthropic"], Answer)
    # The others did not wait for the slow one: their answers came first.
    assert events.index(failure) == len(events) - 1
    rows = await rig.usage_rows()
    assert {r["provider"]: r["outcome"] for r in rows} == {
        "openai": "success",
        "anthropic": "success",
        "google": "error",
    }


async def test_one_cut_off_mid_stream_keeps_its_partial_text(three: Rig) -> None:
    rig = three
    rig.fakes["openai"].reply(text="a long answer that is cut short")
    rig.fakes["openai"].inject(Fault.cut(after=3), path="chat/completions")
    done = endings(await run(rig.service().compare(QUESTION, providers=THREE)))
    failure = done["openai"]
    assert isinstance(failure, CompareFailure)
    assert isinstance(failure.error, StreamInterruptedError)
    assert failure.partial_text
    assert "a long answer that is cut short".startswith(failure.partial_text)
    assert isinstance(done["anthropic"], Answer) and isinstance(done["google"], Answer)


async def test_one_over_its_limit_is_refused_alone(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.add_key("anthropic", limit="0.000001")  # no request fits
    await rig.add_key("google")
    await rig.service().set_preferences(auto_switch_provider=True)
    done = endings(await run(rig.service().compare(QUESTION, providers=THREE)))
    refused = done["anthropic"]
    assert isinstance(refused, CompareFailure) and isinstance(refused.error, SpendLimitError)
    assert chat_requests(rig, "anthropic") == 0  # refused before the call
    assert isinstance(done["openai"], Answer) and isinstance(done["google"], Answer)
    rows = await rig.usage_rows()
    assert sorted((r["provider"], r["outcome"]) for r in rows) == [
        ("google", "success"),
        ("openai", "success"),
    ]


async def test_stopping_early_cancels_the_rest_and_finishes_every_row(three: Rig) -> None:
    rig = three
    rig.fakes["google"].inject(Fault.stall())
    events = rig.service().compare(QUESTION, providers=THREE)
    answered = set()
    async for event in events:
        if isinstance(event, Answer):
            answered.add(event.provider_id)
        if answered == {"openai", "anthropic"}:
            break
    await events.aclose()  # type: ignore[attr-defined]
    rows = await rig.usage_rows()
    assert {r["provider"]: r["outcome"] for r in rows} == {
        "openai": "success",
        "anthropic": "success",
        "google": "cancelled",
    }


async def test_cancelling_the_consumer_finishes_every_row(three: Rig) -> None:
    rig = three
    for provider in THREE:
        rig.fakes[provider].inject(Fault.stall())

    async def consume() -> None:
        await run(rig.service().compare(QUESTION, providers=THREE))

    task = asyncio.create_task(consume())
    await poll(lambda: sum(chat_requests(rig, p) for p in THREE) == 3, "three held requests")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = await rig.usage_rows()
    assert sorted(r["outcome"] for r in rows) == ["cancelled"] * 3


async def test_compare_takes_the_users_working_keys_up_to_the_bound(rig: Rig) -> None:
    for provider in ("openai", "anthropic", "google", "xai"):
        await rig.add_key(provider)
    await rig.service().set_key_enabled("anthropic", False)
    chosen = await rig.service().compare_set(None, max_providers=2)
    assert chosen == ("openai", "google")
    assert await rig.service().compare_set(None, max_providers=5) == ("openai", "google", "xai")


async def test_the_set_is_checked(rig: Rig) -> None:
    await rig.add_key("openai")
    service = rig.service()
    with pytest.raises(ByokError, match="fewer than two"):
        await service.compare_set(None, 4)
    with pytest.raises(ByokError, match="named twice") as twice:
        await service.compare_set(["openai", "OpenAI"], 4)
    assert "named twice" in (twice.value.explanation or "")
    with pytest.raises(UnknownProviderError) as unknown:
        await service.compare_set(["openai", "mistral"], 4)
    assert "anthropic" in str(unknown.value.advice)
    with pytest.raises(ByokError, match="too many"):
        await service.compare_set(["openai", "anthropic", "google"], 2)


async def test_a_provider_without_a_key_fails_in_its_place(rig: Rig) -> None:
    await rig.add_key("openai")
    done = endings(await run(rig.service().compare(QUESTION, providers=["openai", "xai"])))
    assert isinstance(done["openai"], Answer)
    assert isinstance(done["xai"], CompareFailure) and isinstance(done["xai"].error, NoKeyError)


async def test_cached_answers_serve_a_repeated_comparison(three: Rig) -> None:
    rig = three
    await rig.service().set_preferences(cache_answers=True)
    first = endings(await run(rig.service().compare(QUESTION, providers=THREE)))
    again = endings(await run(rig.service().compare(QUESTION, providers=THREE)))
    for provider in THREE:
        assert again[provider].from_cache is not None  # type: ignore[union-attr]
        assert again[provider].text == first[provider].text  # type: ignore[union-attr]
        assert chat_requests(rig, provider) == 1
    fresh = endings(await run(rig.service().compare(QUESTION, providers=THREE, fresh=True)))
    assert all(fresh[p].from_cache is None for p in THREE)  # type: ignore[union-attr]
    rows = await rig.usage_rows()
    assert sorted(r["outcome"] for r in rows) == ["cached"] * 3 + ["success"] * 6


async def test_a_follow_up_in_a_compare_thread_keeps_each_conversation(three: Rig) -> None:
    rig = three
    service = rig.service()
    await service.set_preferences(store_conversation_history=True)
    for provider in THREE:
        rig.fakes[provider].reply(text=f"first from {provider}")
    assert await service.compare_set_of("T1") is None
    await run(service.compare(QUESTION, providers=THREE, thread="T1"))
    assert await service.compare_set_of("T1") == THREE
    follow = [{"role": "user", "content": "And congestion avoidance?"}]
    await run(service.compare(follow, providers=THREE, thread="T1"))
    for provider in THREE:
        body = rig.fakes[provider].requests[-1].body.decode()
        assert f"first from {provider}" in body  # its own earlier answer
        others = [p for p in THREE if p != provider]
        assert all(f"first from {p}" not in body for p in others)  # not the others'
