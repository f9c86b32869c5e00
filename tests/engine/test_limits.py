"""Monthly limits hold on every path: plain, streamed, fallback, operator keys, concurrent.

Costs here are genai-prices figures for the fakes' models: gpt-5.6-terra costs $2 per
million input tokens and $12 per million output tokens (below its long-context tier).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.answers import Answer
from byok.db import Database
from byok.errors import AllProvidersFailedError, SpendLimitError, UnpricedModelError
from byok.pricing import estimate_input_tokens, price_of, worst_case_cost
from byok.service import BYOKService
from byok.types import ChatMessage, Usage, UserRef
from tests.engine.conftest import MakeRig, Rig
from tests.fakes.plugin import FakeProviders

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
MAX_TOKENS = 1000
INPUT = estimate_input_tokens([ChatMessage("user", "What is 2 + 2?")])
WORST = worst_case_cost("openai", "gpt-5.6-terra", INPUT, MAX_TOKENS)
# The fake reports 11 input tokens and every allowed output token: the real worst case.
FULL = Usage(input_tokens=11, output_tokens=MAX_TOKENS)
FULL_COST = price_of("openai", "gpt-5.6-terra", FULL)


def script_full_answers(rig: Rig, provider: str, count: int) -> None:
    for _ in range(count):
        rig.fakes[provider].reply(text="Four.", input_tokens=11, output_tokens=MAX_TOKENS)


def test_the_figures_come_from_genai_prices() -> None:
    per_in, per_out = Decimal("0.000002"), Decimal("0.000012")
    assert INPUT * per_in + MAX_TOKENS * per_out == WORST
    assert 11 * per_in + MAX_TOKENS * per_out == FULL_COST


async def test_limit_refuses_the_request_that_could_cross_it(rig: Rig) -> None:
    assert WORST is not None and FULL_COST is not None
    limit = 2 * FULL_COST + WORST - Decimal("0.000001")  # room for two, not three
    await rig.add_key("openai", limit=str(limit))
    script_full_answers(rig, "openai", 3)
    for _ in range(2):
        answer = await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
        assert answer.cost == FULL_COST
    with pytest.raises(SpendLimitError) as caught:
        await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert caught.value.spent == 2 * FULL_COST
    assert "/byok limit openai" in COMMAND_HINTS.error_text(caught.value)
    # A smaller request still fits under the same limit.
    small = await rig.service().chat(QUESTION, max_tokens=10)
    assert small.provider_id == "openai"
    rows = await rig.usage_rows()
    assert len(rows) == 3 and all(r["outcome"] == "success" for r in rows)


async def test_exactly_at_the_boundary_is_allowed(rig: Rig) -> None:
    assert WORST is not None
    await rig.add_key("openai", limit=str(WORST))
    script_full_answers(rig, "openai", 1)
    answer = await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert answer.cost is not None and answer.cost <= WORST


async def test_streaming_respects_the_limit(rig: Rig) -> None:
    assert WORST is not None and FULL_COST is not None
    await rig.add_key("openai", limit=str(FULL_COST + WORST - Decimal("0.000001")))
    script_full_answers(rig, "openai", 2)
    events = [e async for e in rig.service().stream(QUESTION, max_tokens=MAX_TOKENS)]
    final = events[-1]
    assert isinstance(final, Answer) and final.cost == FULL_COST
    with pytest.raises(SpendLimitError):
        async for _ in rig.service().stream(QUESTION, max_tokens=MAX_TOKENS):
            pass


async def test_fallback_respects_the_fallback_keys_limit(rig: Rig) -> None:
    await rig.add_key("openai", limit="0.000001")
    await rig.add_key("xai", limit="0.000001")
    await rig.service().set_preferences(default_provider="openai", fallback_provider="xai")
    with pytest.raises(AllProvidersFailedError) as caught:
        await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert [type(a.error) for a in caught.value.attempts] == [SpendLimitError, SpendLimitError]
    assert await rig.usage_rows() == []


async def test_a_limited_primary_falls_back_to_a_key_with_room(rig: Rig) -> None:
    await rig.add_key("openai", limit="0.000001")
    await rig.add_key("xai", limit="10")
    await rig.service().set_preferences(default_provider="openai", fallback_provider="xai")
    answer = await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert answer.provider_id == "xai"
    assert "monthly limit" in (answer.fallback_reason or "")


async def test_operator_key_has_its_own_per_user_cap(
    make_rig: MakeRig, fake_providers: FakeProviders
) -> None:
    assert WORST is not None and FULL_COST is not None
    cap = FULL_COST + WORST - Decimal("0.000001")
    rig = await make_rig(
        operator={"openai": {"key": fake_providers.key("openai"), "cap": str(cap)}}
    )
    script_full_answers(rig, "openai", 2)
    answer = await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert answer.key_source == "operator"
    with pytest.raises(SpendLimitError) as refused:
        await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    message = COMMAND_HINTS.error_text(refused.value)
    assert "left of the shared openai allowance" in message
    assert "Add your own key with `/byok add openai`" in message
    assert "/byok limit" not in message  # the user cannot raise the operator's cap
    [row] = await rig.usage_rows()
    assert row["key_source"] == "operator"


async def test_concurrent_requests_of_one_user_never_pass_the_limit(rig_any_db: Rig) -> None:
    rig = rig_any_db
    assert WORST is not None and FULL_COST is not None
    limit = 3 * WORST  # room for three in flight at once
    await rig.add_key("openai", limit=str(limit))
    script_full_answers(rig, "openai", 20)

    async def ask() -> Answer | SpendLimitError:
        try:
            return await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
        except SpendLimitError as exc:
            return exc

    results = await asyncio.gather(*(ask() for _ in range(20)))
    answers = [r for r in results if isinstance(r, Answer)]
    refused = [r for r in results if isinstance(r, SpendLimitError)]
    assert len(answers) == 3 and len(refused) == 17
    rows = await rig.usage_rows()
    assert len(rows) == 3 and all(r["outcome"] == "success" for r in rows)
    spent = sum((r["cost"] for r in rows), Decimal(0))
    assert spent == 3 * FULL_COST <= limit


async def test_the_next_check_counts_an_answer_at_its_cost_before_its_row_is_written(
    rig_any_db: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finishes are group-committed; meanwhile the database still holds the worst case,
    and this process counts what it knows instead: nobody waits for the commit."""
    rig = rig_any_db
    small = price_of("openai", "gpt-5.6-terra", Usage(input_tokens=11, output_tokens=100))
    assert WORST is not None and small is not None
    await rig.add_key("openai", limit=str(small + WORST))  # not room for two worst cases
    monkeypatch.setattr(rig.engine.ledger._writer, "_linger_s", 60.0)  # keep finishes queued
    rig.fakes["openai"].reply(text="ok", input_tokens=11, output_tokens=100)
    first = await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert first.cost == small
    script_full_answers(rig, "openai", 2)
    second = await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert second.cost == FULL_COST
    assert rig.engine.ledger.queued == 2  # neither finish is written yet
    with pytest.raises(SpendLimitError) as caught:
        await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert caught.value.spent == small + FULL_COST
    rows = await rig.usage_rows()  # flushes
    assert sorted(r["cost"] for r in rows) == sorted([small, FULL_COST])
    assert all(r["outcome"] == "success" and r["reserved_cost"] is None for r in rows)


async def test_checks_of_many_users_in_one_commit_each_hold_their_own_limit(
    make_rig: MakeRig, database: Database
) -> None:
    """Two engines (two instances) on one database, six users asking at once: the checks
    share commits, yet each user's limit admits exactly what it has room for."""
    assert WORST is not None and FULL_COST is not None
    first = await make_rig(database)
    second = await make_rig(Database(database.url))
    users = [UserRef("slack", "T1", f"U{n}") for n in range(6)]
    for n, user in enumerate(users):
        room = n % 3 + 1  # room for 1, 2 or 3 answers
        await first.add_key("openai", user, limit=str(room * WORST))
    script_full_answers(first, "openai", 80)

    async def ask(rig: Rig, user: UserRef) -> Answer | SpendLimitError:
        try:
            return await BYOKService(rig.engine, user).chat(QUESTION, max_tokens=MAX_TOKENS)
        except SpendLimitError as exc:
            return exc

    asks = [ask(rig, user) for user in users for rig in (first, second) for _ in range(3)]
    results = await asyncio.gather(*asks)
    per_user = [results[n * 6 : n * 6 + 6] for n in range(len(users))]
    for n, outcomes in enumerate(per_user):
        answered = [r for r in outcomes if isinstance(r, Answer)]
        assert len(answered) == n % 3 + 1, f"user {n}: {len(answered)} answers"
    await second.engine.ledger.flush()  # its finishes are group-committed after the answers
    rows = await first.usage_rows()
    assert len(rows) == sum(n % 3 + 1 for n in range(len(users)))
    assert all(r["outcome"] == "success" and r["reserved_cost"] is None for r in rows)


async def test_unknown_price_with_a_limit_is_refused_not_free(
    make_rig: MakeRig, fake_providers: FakeProviders
) -> None:
    rig = await make_rig()
    await rig.add_key("openai", limit="5")
    with pytest.raises(UnpricedModelError) as caught:
        await rig.service().chat(QUESTION, provider="openai", model="gpt-99-unreleased")
    assert "price of `gpt-99-unreleased` is unknown" in COMMAND_HINTS.error_text(caught.value)
    assert "`/byok prefs model openai <model>`" in COMMAND_HINTS.error_text(caught.value)


async def test_openrouter_auto_under_a_limit_says_how_to_pick_a_priced_default(
    rig: Rig,
) -> None:
    await rig.add_key("openrouter", limit="5")
    with pytest.raises(UnpricedModelError) as caught:
        await rig.service().chat(QUESTION, provider="openrouter")  # default: openrouter/auto
    message = COMMAND_HINTS.error_text(caught.value)
    assert "price of `openrouter/auto` is unknown" in message
    assert "`/byok prefs model openrouter <model>`" in message
    await rig.service().set_preferred_model("openrouter", "openai/gpt-5.6-terra")
    rig.fakes["openrouter"].models.append("openai/gpt-5.6-terra")
    rig.fakes["openrouter"].reply(text="4", model="openai/gpt-5.6-terra", cost=0.0001)
    answer = await rig.service().chat(QUESTION, provider="openrouter")
    assert answer.model == "openai/gpt-5.6-terra"


async def test_the_100_percent_notice_fires_when_the_limit_starts_refusing(rig: Rig) -> None:
    # Worst-case reservations keep spend below the limit, so "used up" is the first refusal
    # once past 80%; a refusal below 80% is about that one request's size.
    small = price_of("openai", "gpt-5.6-terra", Usage(input_tokens=11, output_tokens=100))
    assert small is not None
    await rig.add_key("openai", limit=str(small * Decimal("2.2")))
    with pytest.raises(SpendLimitError) as too_big:
        await rig.service().chat(QUESTION, max_tokens=100_000)
    assert too_big.value.notices == ()  # type: ignore[attr-defined]
    for _ in range(2):
        rig.fakes["openai"].reply(text="ok", input_tokens=11, output_tokens=100)
        await rig.service().chat(QUESTION, max_tokens=100)
    with pytest.raises(SpendLimitError) as refused:
        await rig.service().chat(QUESTION, max_tokens=100)
    [notice] = refused.value.notices  # type: ignore[attr-defined]
    assert notice.threshold == 100
    assert notice.spent < notice.limit  # nearly used: worded so by bot.alert_delivery
    with pytest.raises(SpendLimitError) as again:
        await rig.service().chat(QUESTION, max_tokens=100)
    assert again.value.notices == ()  # type: ignore[attr-defined]


async def test_quota_notices_once_at_80_and_100_percent(rig: Rig) -> None:
    assert FULL_COST is not None
    small = price_of("openai", "gpt-5.6-terra", Usage(input_tokens=11, output_tokens=100))
    assert small is not None
    limit = small * Decimal("2.2")  # 45%, then 91%
    await rig.add_key("openai", limit=str(limit))
    for _ in range(4):
        rig.fakes["openai"].reply(text="ok", input_tokens=11, output_tokens=100)
    first = await rig.service().chat(QUESTION, max_tokens=100)
    second = await rig.service().chat(QUESTION, max_tokens=100)
    assert first.notices == ()
    assert [n.threshold for n in second.notices] == [80]
    assert second.notices[0].percent == 91  # the figure it states, not the threshold
    # The user lowers the limit below what is spent: refused, and told once that it is used up.
    await rig.service().set_monthly_limit("openai", small)
    with pytest.raises(SpendLimitError) as caught:
        await rig.service().chat(QUESTION, max_tokens=100)
    assert [n.threshold for n in caught.value.notices] == [100]  # type: ignore[attr-defined]
    with pytest.raises(SpendLimitError) as again:
        await rig.service().chat(QUESTION, max_tokens=100)
    assert again.value.notices == ()


def test_the_worst_case_estimate_covers_non_latin_text() -> None:
    english = "What is the capital of France?"
    japanese = "フランスの首都はどこですか？"  # ~12-15 tokens in current tokenizers
    emoji = "🎉" * 10  # one to three tokens each
    overhead = estimate_input_tokens([ChatMessage("user", "")])
    assert estimate_input_tokens([ChatMessage("user", english)]) - overhead == 10
    assert estimate_input_tokens([ChatMessage("user", japanese)]) - overhead == 2 * len(japanese)
    assert estimate_input_tokens([ChatMessage("user", emoji)]) - overhead == 20
    mixed = "Summarise: 会議は金曜日"  # 11 ASCII characters, 6 others
    assert estimate_input_tokens([ChatMessage("user", mixed)]) - overhead == 4 + 12


@pytest.mark.slow
async def test_an_unpriced_model_on_the_operator_allowance_says_to_add_ones_own_key(
    make_rig: MakeRig, fake_providers: FakeProviders
) -> None:
    rig = await make_rig(operator={"openai": {"key": fake_providers.key("openai"), "cap": "5"}})
    with pytest.raises(UnpricedModelError) as caught:
        await rig.service().chat(QUESTION, provider="openai", model="gpt-99-unreleased")
    message = COMMAND_HINTS.error_text(caught.value)
    assert "the shared openai allowance cannot be used for it" in message
    assert "`/byok add openai`" in message and "/byok limit" not in message
