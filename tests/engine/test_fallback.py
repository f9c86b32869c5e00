"""Fallback: when a provider fails, who answers, what the user is told, what is recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.answers import Answer, FallingBack, TextDelta
from byok.errors import (
    AllProvidersFailedError,
    BadRequestError,
    ProviderUnavailableError,
    RateLimitedError,
    StreamInterruptedError,
)
from byok.remedies import AddKey
from tests.engine.conftest import MakeRig, Rig
from tests.fakes.loopback import Fault
from tests.fakes.plugin import FakeProviders

QUESTION = [{"role": "user", "content": "Explain TCP slow start."}]


def chat_requests(rig: Rig, provider: str) -> int:
    return sum(1 for r in rig.fakes[provider].requests if r.method == "POST")


@pytest.fixture
async def two_keys(rig: Rig) -> Rig:
    await rig.add_key("openai")
    await rig.add_key("anthropic")
    await rig.service().set_preferences(default_provider="openai", fallback_provider="anthropic")
    return rig


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.http(503), "not answering"),
        (Fault.http(500), "not answering"),
        (Fault.rate_limited(retry_after="30"), "rate limiting"),
        (Fault.http(429, {"error": {"message": "You exceeded your current quota",
                                    "type": "insufficient_quota", "code": "insufficient_quota"}}),
         "run out of credit"),
    ],
)  # fmt: skip
async def test_failure_falls_back_and_says_why(two_keys: Rig, fault: Fault, reason: str) -> None:
    rig = two_keys
    rig.fakes["openai"].inject(fault, path="chat/completions")
    answer = await rig.service().chat(QUESTION)
    assert answer.provider_id == "anthropic"
    assert answer.fell_back
    assert answer.failed_attempts[0].provider_id == "openai"
    assert reason in (answer.fallback_reason or "")
    rows = await rig.usage_rows()
    assert [(r["provider"], r["outcome"], r["is_fallback"]) for r in rows] == [
        ("openai", "error", False),
        ("anthropic", "success", True),
    ]
    assert len({r["request_id"] for r in rows}) == 1


async def test_revoked_key_is_marked_invalid_and_fallback_answers(two_keys: Rig) -> None:
    rig = two_keys
    rig.fakes["openai"].inject(rig.fakes["openai"].bad_key_fault(), path="chat/completions")
    answer = await rig.service().chat(QUESTION)
    assert answer.provider_id == "anthropic"
    assert "refused as invalid" in (answer.fallback_reason or "")
    assert answer.failed_attempts[0].error.remedies == (AddKey("openai"),)
    [status] = [s for s in await rig.service().get_user_api_keys() if s.key.provider_id == "openai"]
    assert not status.key.is_valid and status.key.invalid_reason == "invalid"
    # The next request does not try the invalid key at all.
    before = chat_requests(rig, "openai")
    again = await rig.service().chat(QUESTION)
    assert again.provider_id == "anthropic" and chat_requests(rig, "openai") == before


async def test_a_model_the_key_may_not_use_falls_back_without_disabling_the_key(
    two_keys: Rig,
) -> None:
    rig = two_keys
    denied = {"error": {"message": "You are not allowed to sample from this model",
                        "type": "invalid_request_error", "code": None}}  # fmt: skip
    rig.fakes["openai"].inject(Fault.http(403, denied), path="chat/completions")
    answer = await rig.service().chat(QUESTION)
    assert answer.provider_id == "anthropic"
    assert "lacks permission for this request" in (answer.fallback_reason or "")
    [status] = [s for s in await rig.service().get_user_api_keys() if s.key.provider_id == "openai"]
    assert status.key.is_valid and status.key.usable
    assert (await rig.service().chat(QUESTION)).provider_id == "openai"  # still tried first


async def test_named_provider_with_auto_switch_off_never_switches(two_keys: Rig) -> None:
    rig = two_keys
    await rig.service().set_preferences(auto_switch_provider=False)
    rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    with pytest.raises(ProviderUnavailableError) as caught:
        await rig.service().chat(QUESTION, provider="openai")
    assert "openai" in COMMAND_HINTS.error_text(caught.value)
    assert chat_requests(rig, "anthropic") == 0


async def test_named_provider_with_auto_switch_on_falls_back(two_keys: Rig) -> None:
    rig = two_keys
    rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    answer = await rig.service().chat(QUESTION, provider="openai")
    assert answer.provider_id == "anthropic" and answer.fell_back


async def test_bad_request_is_not_hidden_by_a_fallback(two_keys: Rig) -> None:
    rig = two_keys
    rig.fakes["openai"].inject(Fault.http(400), path="chat/completions")
    with pytest.raises(BadRequestError):
        await rig.service().chat(QUESTION)
    assert chat_requests(rig, "anthropic") == 0


async def test_every_provider_failing_lists_each_reason(two_keys: Rig) -> None:
    rig = two_keys
    rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    rig.fakes["anthropic"].inject(Fault.rate_limited(retry_after="12"), path="messages")
    with pytest.raises(AllProvidersFailedError) as caught:
        await rig.service().chat(QUESTION)
    failed = caught.value
    assert [(a.provider_id, a.outcome, a.error.brief) for a in failed.attempts] == [
        ("openai", "failed", "not answering (server error 503)"),
        ("anthropic", "failed", "rate limited (retry after 12 s)"),
    ]
    # The engine hands over what happened, and one line for logs; the bot words it.
    assert str(failed) == (
        "all providers failed: openai failed: openai: unavailable: server error 503; "
        "anthropic failed: anthropic: rate limited (retry after 12.0s)"
    )
    assert [r["outcome"] for r in await rig.usage_rows()] == ["error", "error"]


async def test_a_provider_refused_by_its_limit_is_skipped_not_failed(two_keys: Rig) -> None:
    rig = two_keys
    await rig.service().set_monthly_limit("openai", Decimal("0.01"))
    rig.fakes["anthropic"].inject(Fault.http(503), path="messages")
    with pytest.raises(AllProvidersFailedError) as caught:
        await rig.service().chat(QUESTION, max_tokens=5000)
    skipped, failed = caught.value.attempts
    assert (skipped.provider_id, skipped.outcome) == ("openai", "skipped")
    assert skipped.error.brief.startswith("its $0.01 monthly limit has $0.01 left, this request")
    assert (failed.provider_id, failed.outcome) == ("anthropic", "failed")
    assert chat_requests(rig, "openai") == 0


async def test_operator_key_is_never_a_silent_fallback(
    make_rig: MakeRig, fake_providers: FakeProviders
) -> None:
    rig = await make_rig(operator={"google": {"key": fake_providers.key("google")}})
    await rig.add_key("openai")
    rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    with pytest.raises(ProviderUnavailableError):
        await rig.service().chat(QUESTION)
    assert chat_requests(rig, "google") == 0
    # Without a key of their own, the user may use the operator's key directly.
    answer = await rig.service().chat(QUESTION, provider="google")
    assert (answer.provider_id, answer.key_source) == ("google", "operator")


async def test_stream_falls_back_before_the_first_token(two_keys: Rig) -> None:
    rig = two_keys
    rig.fakes["openai"].inject(Fault.http(502), path="chat/completions")
    rig.fakes["anthropic"].reply(text="Slow start doubles the window.")
    events = [e async for e in rig.service().stream(QUESTION)]
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "FallingBack" and kinds[-1] == "Answer"
    falling = events[0]
    assert isinstance(falling, FallingBack) and falling.next_provider_id == "anthropic"
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    final = events[-1]
    assert isinstance(final, Answer) and final.text == text == "Slow start doubles the window."


async def test_stream_cut_after_tokens_is_reported_not_glued(two_keys: Rig) -> None:
    rig = two_keys
    rig.fakes["openai"].reply(text="Slow start begins with a small window and grows it")
    rig.fakes["openai"].inject(Fault.cut(after=3), path="chat/completions")
    shown: list[str] = []
    with pytest.raises(StreamInterruptedError) as caught:
        async for event in rig.service().stream(QUESTION):
            if isinstance(event, TextDelta):
                shown.append(event.text)
    assert shown, "some text was streamed before the cut"
    assert caught.value.partial_text == "".join(shown)
    assert "incomplete" in COMMAND_HINTS.error_text(caught.value)
    assert chat_requests(rig, "anthropic") == 0
    [row] = await rig.usage_rows()
    assert (row["outcome"], row["error_kind"]) == ("error", "stream_interrupted")
    assert row["reserved_cost"] is not None  # may have been billed: still counts


async def test_rate_limited_error_carries_retry_after(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().set_preferences(auto_switch_provider=False)
    rig.fakes["openai"].inject(Fault.rate_limited(retry_after="42"), path="chat/completions")
    with pytest.raises(RateLimitedError) as caught:
        await rig.service().chat(QUESTION)
    assert caught.value.retry_after == 42
    assert "42 s" in COMMAND_HINTS.error_text(caught.value)
