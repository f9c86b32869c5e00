"""The response cache: an identical question from the same user answered again, for free.

Hits, misses, TTL expiry, per-user isolation, encryption at rest, --fresh, fallback,
limits, bounds and the accounting of what was saved.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from byok.answers import Answer, TextDelta
from byok.db.tables import ResponseCacheEntry
from byok.engine import EngineSettings
from byok.errors import SpendLimitError
from byok.response_cache import CacheSettings, canonical_request
from byok.types import ChatMessage
from tests.engine.conftest import ALICE, BOB, MakeRig, Rig
from tests.fakes.loopback import Fault

QUESTION = [{"role": "user", "content": "What is the capital of Australia?"}]


def calls(rig: Rig, provider: str = "openai") -> int:
    return sum(1 for r in rig.fakes[provider].requests if r.method == "POST")


async def cache_rows(rig: Rig) -> list[ResponseCacheEntry]:
    async with rig.engine.database.session() as session:
        return list(await session.scalars(select(ResponseCacheEntry)))


async def caching_user(rig: Rig, user=ALICE, provider: str = "openai", **prefs: object) -> None:  # type: ignore[no-untyped-def]
    await rig.add_key(provider, user)
    await rig.service(user).set_preferences(cache_answers=True, **prefs)


async def test_an_identical_question_is_answered_from_the_cache_and_counted_as_saved(
    rig_any_db: Rig,
) -> None:
    rig = rig_any_db
    await caching_user(rig)
    rig.fakes["openai"].reply(text="Canberra.", input_tokens=1200, output_tokens=300)
    first = await rig.service().chat(QUESTION)
    assert first.from_cache is None and first.cost is not None and first.cost > 0
    rig.clock.now += timedelta(hours=3)
    second = await rig.service().chat(QUESTION)
    assert calls(rig) == 1  # the provider was not asked again
    assert second.text == "Canberra." and second.model == first.model
    assert second.from_cache is not None
    assert second.from_cache.saved == first.cost
    assert second.from_cache.asked_at == rig.clock.now - timedelta(hours=3)
    assert second.cost == 0 and second.provider_id == "openai"
    rows = await rig.usage_rows()
    assert [(r["outcome"], r["cost"], r["saved_cost"]) for r in rows] == [
        ("success", first.cost, None),
        ("cached", Decimal(0), first.cost),
    ]
    assert rows[1]["input_tokens"] == rows[1]["output_tokens"] == 0
    assert rows[1]["request_id"] == second.request_id
    report = await rig.service().usage_report("month")
    assert (report.cached, report.saved, report.saved_unknown) == (1, first.cost, 0)
    assert report.cost == first.cost  # the cached answer added nothing to spend
    assert report.questions == 2
    [line] = report.lines
    assert line.failures == 0 and line.unpriced == 0 and line.held == 0
    spend = await rig.engine.ledger.month_spend_by_provider(
        (await rig.engine.user_state(ALICE)).user_ref
    )
    assert spend["openai"].spent == first.cost


async def test_caching_is_off_unless_the_user_opts_in(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().chat(QUESTION)
    answer = await rig.service().chat(QUESTION)
    assert calls(rig) == 2 and answer.from_cache is None
    assert await cache_rows(rig) == []


async def test_the_operator_switch_turns_the_cache_off_for_everyone(make_rig: MakeRig) -> None:
    rig = await make_rig(
        settings=EngineSettings(requests_per_minute=10_000, cache=CacheSettings(enabled=False))
    )
    await caching_user(rig)
    await rig.service().chat(QUESTION)
    await rig.service().chat(QUESTION)
    assert calls(rig) == 2 and await cache_rows(rig) == []


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "What is the capital of Austria?"}]},
        {"temperature": 0.2},
        {"max_tokens": 50},
        {"model": "gpt-4o-mini"},
    ],
)
async def test_any_difference_in_the_request_is_a_miss(rig: Rig, change: dict[str, object]) -> None:
    await caching_user(rig)
    await rig.service().chat(QUESTION)
    messages = change.pop("messages", QUESTION)
    answer = await rig.service().chat(messages, **change)  # type: ignore[arg-type]
    assert calls(rig) == 2 and answer.from_cache is None


async def test_an_answer_older_than_the_ttl_is_asked_again_and_its_entry_replaced(
    rig: Rig,
) -> None:
    await caching_user(rig, cache_ttl_s=3600)
    rig.fakes["openai"].reply(text="old")
    rig.fakes["openai"].reply(text="new")
    await rig.service().chat(QUESTION)
    rig.clock.now += timedelta(minutes=59)
    assert (await rig.service().chat(QUESTION)).from_cache is not None
    rig.clock.now += timedelta(minutes=2)
    again = await rig.service().chat(QUESTION)
    assert again.from_cache is None and again.text == "new" and calls(rig) == 2
    assert len(await cache_rows(rig)) == 1
    assert (await rig.service().chat(QUESTION)).text == "new"


async def test_a_shorter_ttl_applies_to_answers_kept_before(rig: Rig) -> None:
    await caching_user(rig)  # the operator's default: a day
    await rig.service().chat(QUESTION)
    rig.clock.now += timedelta(hours=2)
    await rig.service().set_preferences(cache_ttl_s=3600)
    assert (await rig.service().chat(QUESTION)).from_cache is None
    assert calls(rig) == 2


async def test_a_ttl_out_of_bounds_is_refused(rig: Rig) -> None:
    from byok.errors import ByokError

    for ttl in (10, 400 * 86_400):
        with pytest.raises(ByokError, match="cache ttl"):
            await rig.service().set_preferences(cache_ttl_s=ttl)


async def test_users_never_share_answers_nor_hashes(rig_any_db: Rig) -> None:
    rig = rig_any_db
    await caching_user(rig, ALICE)
    await caching_user(rig, BOB)
    rig.fakes["openai"].reply(text="for Alice")
    rig.fakes["openai"].reply(text="for Bob")
    assert (await rig.service(ALICE).chat(QUESTION)).text == "for Alice"
    bobs = await rig.service(BOB).chat(QUESTION)
    assert bobs.text == "for Bob" and bobs.from_cache is None
    assert (await rig.service(BOB).chat(QUESTION)).text == "for Bob"
    assert (await rig.service(ALICE).chat(QUESTION)).text == "for Alice"
    rows = await cache_rows(rig)
    assert (
        len(rows) == 2
        and len({r.key_hash for r in rows}) == 2
        and len({r.user_ref for r in rows}) == 2
    )
    # The hash is keyed: it is not the plain digest of the request.
    request = canonical_request(
        "openai", "gpt-5.6-terra", [ChatMessage("user", QUESTION[0]["content"])], 1024, None
    )
    assert hashlib.sha256(request).hexdigest() not in {r.key_hash for r in rows}


async def test_an_entry_moved_to_another_user_does_not_open(rig: Rig) -> None:
    await caching_user(rig, ALICE)
    await caching_user(rig, BOB)
    await rig.service(ALICE).chat(QUESTION)
    await rig.service(BOB).chat([{"role": "user", "content": "Something else entirely."}])
    alice_ref = (await rig.engine.user_state(ALICE)).user_ref
    bob_ref = (await rig.engine.user_state(BOB)).user_ref
    async with rig.engine.database.session() as session:
        alices = await session.scalar(
            select(ResponseCacheEntry).where(ResponseCacheEntry.user_ref == alice_ref)
        )
        assert alices is not None
        blob, key_id = alices.sealed, alices.master_key_id
    # Bob's row gets Alice's blob under the hash Bob's identical question would have.
    bob_hash = rig.engine.response_cache.key_hash(
        BOB, "openai", "gpt-5.6-terra", [ChatMessage("user", QUESTION[0]["content"])], 1024, None
    )
    async with rig.engine.database.session() as session:
        await session.execute(
            update(ResponseCacheEntry)
            .where(ResponseCacheEntry.user_ref == bob_ref)
            .values(sealed=blob, master_key_id=key_id, key_hash=bob_hash)
        )
    answer = await rig.service(BOB).chat(QUESTION)
    assert answer.from_cache is None  # refused, asked afresh
    assert calls(rig) == 3


def _database_bytes(folder: Path) -> bytes:
    """The SQLite file and its write-ahead log, as stored on disk."""
    files = list(folder.glob("engine-0.db*"))
    assert files
    return b"".join(f.read_bytes() for f in files)


async def test_no_answer_text_is_readable_in_the_database_file(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    rig = await make_rig()
    canary = "CANARY-" + secrets.token_hex(12)
    question = "QUESTION-" + secrets.token_hex(12)
    await caching_user(rig)
    rig.fakes["openai"].reply(text=f"The answer is {canary}.")
    await rig.service().chat([{"role": "user", "content": question}])
    assert (await rig.service().chat([{"role": "user", "content": question}])).from_cache
    await rig.engine.ledger.flush()
    stored = _database_bytes(tmp_path)
    for secret in (canary, question):
        assert secret.encode() not in stored
        assert secret.encode("utf-16-le") not in stored


async def test_fresh_asks_the_provider_and_keeps_the_new_answer(rig: Rig) -> None:
    await caching_user(rig)
    rig.fakes["openai"].reply(text="first")
    rig.fakes["openai"].reply(text="second")
    await rig.service().chat(QUESTION)
    fresh = await rig.service().chat(QUESTION, fresh=True)
    assert fresh.text == "second" and fresh.from_cache is None and calls(rig) == 2
    again = await rig.service().chat(QUESTION)
    assert again.text == "second" and again.from_cache is not None
    assert len(await cache_rows(rig)) == 1


async def test_a_streamed_answer_is_kept_and_a_hit_streams_as_one_piece(rig: Rig) -> None:
    await caching_user(rig)
    rig.fakes["openai"].reply(text="one two three four")
    first = [e async for e in rig.service().stream(QUESTION)]
    assert sum(isinstance(e, TextDelta) for e in first) > 1
    events = [e async for e in rig.service().stream(QUESTION)]
    assert [type(e) for e in events] == [TextDelta, Answer]
    assert events[0].text == "one two three four"  # type: ignore[union-attr]
    assert events[1].from_cache is not None  # type: ignore[union-attr]
    assert calls(rig) == 1
    # Streamed and not streamed share entries: the request is the same.
    assert (await rig.service().chat(QUESTION)).from_cache is not None


@pytest.mark.parametrize("finish", ["length", "content_filter"])
async def test_an_incomplete_answer_is_not_kept(rig: Rig, finish: str) -> None:
    await caching_user(rig)
    rig.fakes["openai"].reply(text="cut", finish_reason=finish)
    await rig.service().chat(QUESTION)
    assert await cache_rows(rig) == []
    await rig.service().chat(QUESTION)
    assert calls(rig) == 2


async def test_a_fallback_answer_is_kept_under_the_provider_that_gave_it(rig: Rig) -> None:
    await caching_user(rig)
    await rig.add_key("anthropic")
    await rig.service().set_preferences(default_provider="openai", fallback_provider="anthropic")
    rig.fakes["openai"].inject(Fault.http(503), path="chat/completions", times=4)
    rig.fakes["anthropic"].reply(text="from Claude")
    first = await rig.service().chat(QUESTION)
    assert first.provider_id == "anthropic"
    [row] = await cache_rows(rig)
    assert row.provider == "anthropic"
    again = await rig.service().chat(QUESTION)
    assert again.text == "from Claude" and again.from_cache is not None
    assert again.fell_back and again.provider_id == "anthropic"
    assert calls(rig, "anthropic") == 1
    rows = await rig.usage_rows()
    assert [(r["provider"], r["outcome"]) for r in rows][-2:] == [
        ("openai", "error"),
        ("anthropic", "cached"),
    ]
    # OpenAI answering again: its own entry, not the fallback's.
    rig.fakes["openai"].clear_faults()
    rig.fakes["openai"].reply(text="from GPT")
    with_openai = await rig.service().chat(QUESTION)
    assert with_openai.text == "from GPT" and with_openai.from_cache is None
    assert {row.provider for row in await cache_rows(rig)} == {"openai", "anthropic"}


async def test_a_hit_is_served_when_the_monthly_limit_is_reached(rig: Rig) -> None:
    await rig.add_key("openai", limit="0.05")
    await rig.service().set_preferences(cache_answers=True)
    rig.fakes["openai"].reply(text="Canberra.", input_tokens=1000, output_tokens=100)
    first = await rig.service().chat(QUESTION, max_tokens=200)
    assert first.cost is not None
    await rig.service().set_monthly_limit("openai", first.cost)  # the month is spent
    with pytest.raises(SpendLimitError):
        await rig.service().chat([{"role": "user", "content": "Another question"}], max_tokens=200)
    hit = await rig.service().chat(QUESTION, max_tokens=200)
    assert hit.from_cache is not None and hit.cost == 0


async def test_an_unknown_price_is_an_unknown_saving_never_zero(rig: Rig) -> None:
    await caching_user(rig)
    rig.fakes["openai"].models.append("gpt-99-unreleased")
    await rig.service().chat(QUESTION, model="gpt-99-unreleased")
    hit = await rig.service().chat(QUESTION, model="gpt-99-unreleased")
    assert hit.from_cache is not None and hit.from_cache.saved is None
    rows = await rig.usage_rows()
    assert rows[-1]["outcome"] == "cached" and rows[-1]["saved_cost"] is None
    report = await rig.service().usage_report("month")
    assert (report.cached, report.saved, report.saved_unknown) == (1, 0, 1)
    assert report.unpriced == 1  # the original answer only


async def test_each_user_keeps_at_most_the_operator_bound_oldest_evicted(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(
        settings=EngineSettings(
            requests_per_minute=10_000, cache=CacheSettings(max_entries_per_user=2)
        )
    )
    await caching_user(rig)
    for n in range(3):
        await rig.service().chat([{"role": "user", "content": f"question {n}"}])
        rig.clock.now += timedelta(seconds=1)
    assert len(await cache_rows(rig)) == 2
    assert (
        await rig.service().chat([{"role": "user", "content": "question 0"}])
    ).from_cache is None
    assert (await rig.service().chat([{"role": "user", "content": "question 2"}])).from_cache


async def test_an_overlong_answer_is_not_kept(make_rig: MakeRig) -> None:
    rig = await make_rig(
        settings=EngineSettings(
            requests_per_minute=10_000, cache=CacheSettings(max_answer_chars=10)
        )
    )
    await caching_user(rig)
    rig.fakes["openai"].reply(text="far more than ten characters")
    await rig.service().chat(QUESTION)
    assert await cache_rows(rig) == []


async def test_clearing_deleting_history_or_turning_off_deletes_the_users_answers(
    rig: Rig,
) -> None:
    await caching_user(rig, ALICE)
    await caching_user(rig, BOB)
    await rig.service(ALICE).chat(QUESTION)
    await rig.service(BOB).chat(QUESTION)
    assert await rig.service(ALICE).clear_cache() == 1
    assert len(await cache_rows(rig)) == 1  # Bob's stays
    await rig.service(ALICE).chat(QUESTION)
    await rig.service(ALICE).forget_history()
    assert len(await cache_rows(rig)) == 1
    await rig.service(ALICE).chat(QUESTION)
    await rig.service(ALICE).set_preferences(store_conversation_history=False)
    assert len(await cache_rows(rig)) == 1
    await rig.service(BOB).set_preferences(cache_answers=False)
    assert await cache_rows(rig) == []


class SlowSharedLimiter:
    """A shared allowance (a database round trip in production) that refuses once open."""

    in_database = True

    def __init__(self, refuse: bool = False) -> None:
        import asyncio

        self.refuse = refuse
        self.gate = asyncio.Event()
        self.calls = 0

    async def acquire(self, user: object) -> None:
        from byok.errors import RequestRateLimitError

        self.calls += 1
        await self.gate.wait()
        if self.refuse:
            raise RequestRateLimitError(30.0)


async def test_a_refused_allowance_serves_no_hit_and_records_nothing(rig: Rig) -> None:
    from byok.errors import RequestRateLimitError

    await caching_user(rig)
    await rig.service().chat(QUESTION)
    limiter = SlowSharedLimiter(refuse=True)
    limiter.gate.set()
    rig.engine.limiter = limiter  # type: ignore[assignment]
    with pytest.raises(RequestRateLimitError):
        await rig.service().chat(QUESTION)
    assert [r["outcome"] for r in await rig.usage_rows()] == ["success"]
    assert calls(rig) == 1


async def test_an_answer_arriving_after_the_cache_was_turned_off_is_not_kept(
    rig_any_db: Rig,
) -> None:
    """The question was asked with the cache on; the user turned it off (which deletes
    their answers) while it was being answered: the answer is not kept, so turning the
    cache on again later serves nothing from before."""
    import asyncio

    rig = rig_any_db
    await caching_user(rig)
    answered, go_on = asyncio.Event(), asyncio.Event()
    call = rig.engine.runner.call

    async def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = await call(*args, **kwargs)
        answered.set()
        await go_on.wait()  # the answer is in, not yet kept
        return result

    rig.engine.runner.call = held  # type: ignore[method-assign]
    asking = asyncio.create_task(rig.service().chat(QUESTION))
    await answered.wait()
    await rig.service().set_preferences(cache_answers=False)
    go_on.set()
    assert (await asking).text
    rig.engine.runner.call = call  # type: ignore[method-assign]
    assert await cache_rows(rig) == []
    await rig.service().set_preferences(cache_answers=True)
    again = await rig.service().chat(QUESTION)
    assert again.from_cache is None and calls(rig) == 2
