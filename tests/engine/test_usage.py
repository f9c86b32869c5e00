"""Usage rows: exactly one per attempt, whatever happens; costs from genai-prices."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import byok.db.database as db_engine
from byok.answers import Answer, TextDelta
from byok.db import Database
from byok.errors import ProviderUnavailableError
from byok.pricing import price_of
from byok.service import BYOKService
from byok.types import Usage
from byok.usage import SpendKey
from tests.databases import migrated_sqlite_url
from tests.engine.conftest import ALICE, BOB, MakeRig, Rig
from tests.fakes.loopback import Fault

QUESTION = [{"role": "user", "content": "Name three prime numbers."}]


async def test_success_row_has_reported_tokens_and_genai_prices_cost(rig: Rig) -> None:
    await rig.add_key("anthropic")
    rig.fakes["anthropic"].reply(
        text="2, 3, 5", input_tokens=1200, output_tokens=80, cached_tokens=1000
    )
    answer = await rig.service().chat(QUESTION, provider="anthropic")
    expected = price_of(
        "anthropic",
        "claude-sonnet-4-6",
        Usage(input_tokens=1200, output_tokens=80, cached_input_tokens=1000),
    )
    assert expected is not None and answer.cost == expected
    [row] = await rig.usage_rows()
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (
        1200,
        80,
        1000,
    )
    assert row["cost"] == expected and row["reserved_cost"] is None
    assert (row["outcome"], row["request_kind"], row["key_source"]) == ("success", "chat", "user")
    assert row["latency_ms"] is not None and row["finished_at"] is not None


async def test_openrouter_reported_cost_wins_and_served_model_is_recorded(rig: Rig) -> None:
    await rig.add_key("openrouter")
    rig.fakes["openrouter"].reply(
        text="2, 3, 5", model="anthropic/claude-sonnet-4.6", cost=0.00123,
        input_tokens=20, output_tokens=10,
    )  # fmt: skip
    answer = await rig.service().chat(QUESTION, provider="openrouter")
    assert answer.model == "anthropic/claude-sonnet-4.6"
    assert answer.cost == Decimal("0.00123")
    [row] = await rig.usage_rows()
    assert row["model"] == "anthropic/claude-sonnet-4.6" and row["cost"] == Decimal("0.00123")


async def test_unknown_price_is_stored_as_unknown_not_zero(rig: Rig) -> None:
    await rig.add_key("openai")
    rig.fakes["openai"].models.append("gpt-99-unreleased")
    answer = await rig.service().chat(QUESTION, provider="openai", model="gpt-99-unreleased")
    assert answer.cost is None
    [row] = await rig.usage_rows()
    assert row["cost"] is None
    report = await rig.service().usage_report("month")
    assert report.unpriced == 1 and report.cost == 0


async def test_failed_attempt_rows_release_their_reservation(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().set_preferences(auto_switch_provider=False)
    rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    with pytest.raises(ProviderUnavailableError):
        await rig.service().chat(QUESTION)
    [row] = await rig.usage_rows()
    assert (row["outcome"], row["error_kind"]) == ("error", "unavailable")
    assert row["cost"] is None and row["reserved_cost"] is None


async def test_a_timed_out_call_keeps_its_worst_case_against_the_limit(
    make_rig: MakeRig,
) -> None:
    """The provider may finish (and bill) work whose answer we stopped waiting for."""
    rig = await make_rig(timeout_s=0.3)
    await rig.add_key("openai", limit="10")
    await rig.service().set_preferences(auto_switch_provider=False)
    rig.fakes["openai"].inject(Fault.stall(), path="chat/completions")
    with pytest.raises(ProviderUnavailableError) as caught:
        await rig.service().chat(QUESTION)
    assert caught.value.may_have_billed
    [row] = await rig.usage_rows()
    assert (row["outcome"], row["error_kind"]) == ("error", "unavailable")
    assert row["cost"] is None and row["reserved_cost"] and row["reserved_cost"] > 0


async def test_cancelled_caller_still_leaves_exactly_one_row(rig: Rig) -> None:
    await rig.add_key("openai")
    rig.fakes["openai"].inject(Fault.stall(), path="chat/completions")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(rig.service().chat(QUESTION), timeout=0.5)
    [row] = await rig.usage_rows()
    assert (row["outcome"], row["error_kind"]) == ("cancelled", "cancelled")
    assert row["reserved_cost"] is not None  # it may have been billed: it keeps counting


async def test_stream_abandoned_by_its_reader_leaves_one_cancelled_row(rig: Rig) -> None:
    await rig.add_key("openai")
    rig.fakes["openai"].reply(text="one two three four five six")
    stream = rig.service().stream(QUESTION)
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    [row] = await rig.usage_rows()
    assert row["outcome"] == "cancelled"


async def test_streamed_usage_matches_non_streamed(rig: Rig) -> None:
    await rig.add_key("google")
    rig.fakes["google"].reply(
        text="2, 3 and 5", input_tokens=30, output_tokens=12, reasoning_tokens=5
    )
    events = [e async for e in rig.service().stream(QUESTION, provider="google")]
    final = events[-1]
    assert isinstance(final, Answer)
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 12)
    assert final.usage.reasoning_tokens == 5
    [row] = await rig.usage_rows()
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (30, 12, 5)
    assert row["request_kind"] == "stream"


async def test_concurrent_requests_write_one_row_each(rig_any_db: Rig) -> None:
    rig = rig_any_db
    await rig.add_key("xai")
    await rig.add_key("xai", user=BOB)
    asks = [rig.service(user).chat(QUESTION) for user in (BYOKService(rig.engine, BOB).user,) * 15]
    asks += [rig.service().chat(QUESTION) for _ in range(15)]
    answers = await asyncio.gather(*asks)
    rows = await rig.usage_rows()
    assert len(rows) == 30 == len({r["request_id"] for r in rows})
    assert {a.request_id for a in answers} == {r["request_id"] for r in rows}


async def test_usage_report_by_provider_model_and_period(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.add_key("anthropic")
    for _ in range(2):
        rig.fakes["openai"].reply(text="a", input_tokens=100, output_tokens=10)
    rig.fakes["anthropic"].reply(text="b", input_tokens=50, output_tokens=5)
    await rig.service().chat(QUESTION, provider="openai")
    await rig.service().chat(QUESTION, provider="openai")
    rig.clock.now -= timedelta(days=10)  # earlier this month, not this week
    await rig.service().chat(QUESTION, provider="anthropic")
    rig.clock.now += timedelta(days=10)
    month = await rig.service().usage_report("month")
    week = await rig.service().usage_report("week")
    assert [(line.provider_id, line.requests) for line in month.lines] == [
        ("anthropic", 1),
        ("openai", 2),
    ]
    assert [(line.provider_id, line.input_tokens, line.output_tokens) for line in week.lines] == [
        ("openai", 200, 20)
    ]
    openai_cost = price_of("openai", "gpt-5.6-terra", Usage(input_tokens=100, output_tokens=10))
    assert openai_cost is not None and week.cost == 2 * openai_cost
    statuses = {s.key.provider_id: s for s in await rig.service().get_user_api_keys()}
    assert statuses["openai"].spent_this_month == 2 * openai_cost


async def _limited_rig_and_a_second_writer(
    make_rig: MakeRig, tmp_path: Path
) -> tuple[Rig, sqlite3.Connection]:
    """A rig on a SQLite file (a key with a limit, one answer queued) and another
    connection to that file, which a test uses to hold the write lock."""
    path = tmp_path / "byok.db"
    rig = await make_rig(Database(migrated_sqlite_url(path)))
    await rig.add_key("openai", limit="10")
    rig.fakes["openai"].reply(text="Four, as always.", input_tokens=11, output_tokens=6)
    return rig, sqlite3.connect(path, isolation_level=None)


async def test_a_finish_that_meets_a_locked_database_is_written_when_it_frees(
    make_rig: MakeRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key with a limit has a pending row; its finish must not be lost to a lock."""
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    rig, other = await _limited_rig_and_a_second_writer(make_rig, tmp_path)
    events = []
    try:
        async for event in rig.service().stream(QUESTION, provider="openai"):
            if not events:
                other.execute("BEGIN EXCLUSIVE")  # another writer holds the database
            events.append(event)
        answer = events[-1]
        assert isinstance(answer, Answer) and answer.text == "Four, as always."
        assert rig.engine.ledger.queued == 1  # the finish waits in memory
    finally:
        other.execute("ROLLBACK")
        other.close()
    [row] = await rig.usage_rows()  # flushes the queued finish first
    assert (row["outcome"], row["input_tokens"], row["output_tokens"]) == ("success", 11, 6)
    assert row["cost"] == answer.cost and row["reserved_cost"] is None
    assert row["finished_at"] is not None


async def test_pending_rows_left_by_a_crashed_process_are_closed_keeping_their_reservation(
    rig: Rig,
) -> None:
    await rig.add_key("openai", limit="10")
    ledger = rig.engine.ledger
    user_ref = (await rig.engine.user_state(ALICE)).user_ref

    async def pending(request_id: str) -> None:  # what a process killed mid-request leaves
        key = SpendKey.at(rig.clock.now, user_ref, "openai", "user")
        attempt_id, _spent = await ledger.reserve(
            key=key, request_id=request_id, model="gpt-5.6-terra", request_kind="ask",
            is_fallback=False, worst=Decimal("0.25"), limit=Decimal("10"),
        )  # fmt: skip
        assert attempt_id is not None

    await pending("crashed")
    rig.clock.now += timedelta(hours=2)
    await pending("still running")
    assert await ledger.close_abandoned() == 1
    assert await ledger.close_abandoned() == 0
    rows = {r["request_id"]: r for r in await rig.usage_rows()}
    crashed = rows["crashed"]
    assert (crashed["outcome"], crashed["error_kind"]) == ("cancelled", "interrupted")
    assert crashed["reserved_cost"] == Decimal("0.25") and crashed["finished_at"] == rig.clock.now
    assert rows["still running"]["outcome"] == "pending"
    report = await rig.service().usage_report("month")
    [line] = report.lines
    assert (line.requests, line.failures, line.held_requests) == (1, 1, 1)
    assert line.held == Decimal("0.25")


async def test_an_answer_under_a_limit_does_not_wait_for_its_row_to_be_written(
    make_rig: MakeRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finish is group-committed: another writer holding the database delays the row,
    not the answer, and a cancel after the answer cannot lose the success."""
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 3_000)
    rig, other = await _limited_rig_and_a_second_writer(make_rig, tmp_path)
    first_text = asyncio.Event()

    async def consume() -> None:
        async for _event in rig.service().stream(QUESTION, provider="openai"):
            if not first_text.is_set():
                other.execute("BEGIN EXCLUSIVE")  # the row's finish will wait for this
                first_text.set()

    task = asyncio.create_task(consume())
    try:
        await first_text.wait()
        await asyncio.wait_for(task, 2.5)  # answered while the lock is still held
        assert rig.engine.ledger.queued == 1  # the finish waits in memory
        task.cancel()
    finally:
        other.execute("ROLLBACK")
        other.close()
    [row] = await rig.usage_rows()
    assert (row["outcome"], row["input_tokens"], row["output_tokens"]) == ("success", 11, 6)
