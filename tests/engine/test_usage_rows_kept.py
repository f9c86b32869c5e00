"""No usage row is lost: not to a row the database refuses, not to a crash mid-call.

A refused row (a value out of range, text longer than its column) used to make the
background writer drop its whole batch, other users' rows included. An attempt with no
limit had no row at all until it ended, so a process killed mid-call left no trace.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import byok.db.database as db_engine
from byok.db import Database
from byok.db.tables import UsageEvent
from byok.errors import DatabaseUnavailableError
from byok.types import Usage, UserRef
from byok.usage import SpendKey, UsageLedger, month_bounds
from byok.users import user_id_or_create
from tests.databases import migrated_sqlite_url
from tests.engine.conftest import MakeRig
from tests.fakes.loopback import Fault
from tests.ops.harness import poll
from tests.postgres_server import PostgresServer

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
QUESTION = [{"role": "user", "content": "Name three prime numbers."}]
BEYOND_64_BITS = 2**64
THREE_BILLION = 3_000_000_000


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[Database]:
    database = Database(postgres_server.create_migrated_database())
    yield database
    await database.dispose()


async def _users(database: Database, count: int) -> list[int]:
    async with database.session() as session:
        return [
            await user_id_or_create(session, UserRef("slack", "T1", f"U{n}"), NOW)
            for n in range(count)
        ]


def _record(ledger: UsageLedger, user_ref: int, request_id: str, **changes: Any) -> None:
    fields: dict[str, Any] = {
        "user_ref": user_ref, "request_id": request_id, "provider_id": "openai",
        "model": "gpt-5.6-terra", "key_source": "user", "request_kind": "ask",
        "is_fallback": False, "created_at": NOW, "outcome": "success",
        "usage": Usage(1000, 200), "cost": Decimal("0.0044"), "latency_ms": 900,
    }  # fmt: skip
    ledger.record(**{**fields, **changes})


async def _rows(database: Database) -> dict[str, UsageEvent]:
    async with database.session() as session:
        return {row.request_id: row for row in await session.scalars(select(UsageEvent))}


def _writer_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "byok.db.writer" and r.levelno == logging.WARNING
    ]


async def test_a_row_the_database_refuses_costs_no_other_row_its_place(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = UsageLedger(database)
    users = await _users(database, 3)
    for n in range(9):  # one batch: nothing is written before the flush
        _record(ledger, users[n % 3], f"good-{n}")
        if n == 4:
            _record(
                ledger, users[0], "bad-row", usage=Usage(BEYOND_64_BITS, 7),
                cost=Decimal("9.99"), reserved_cost=Decimal("0.5"),
            )  # fmt: skip
    await ledger.flush()
    assert ledger.queued == 0

    rows = await _rows(database)
    good = [rows[f"good-{n}"] for n in range(9)]
    assert {r.user_ref for r in good} == set(users)
    assert all(
        (r.outcome, r.input_tokens, r.cost) == ("success", 1000, Decimal("0.0044")) for r in good
    )
    bad = rows["bad-row"]  # the attempt still counts: an error whose cost is unknown
    assert (bad.outcome, bad.error_kind, bad.cost) == ("error", "unrecordable", None)
    assert (bad.input_tokens, bad.output_tokens, bad.reserved_cost) == (0, 7, Decimal("0.5"))
    [warning] = _writer_warnings(caplog)
    assert "request bad-row" in warning and "wrote it with the refused values cut" in warning
    # Its reservation still holds against a limit.
    spent = await ledger.month_spend(SpendKey.at(NOW, users[0], "openai", "user"))
    assert spent == 3 * Decimal("0.0044") + Decimal("0.5")


@pytest.mark.postgres
async def test_postgresql_text_longer_than_its_column_is_cut_not_lost(
    postgres_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = UsageLedger(postgres_database)
    [user] = await _users(postgres_database, 1)
    _record(ledger, user, "good-1")
    _record(ledger, user, "long-model", model="m" * 200)
    _record(ledger, user, "long-provider", provider_id="p" * 40)
    _record(ledger, user, "good-2")
    await ledger.flush()

    rows = await _rows(postgres_database)
    assert rows["good-1"].outcome == rows["good-2"].outcome == "success"
    assert rows["long-model"].model == "m" * 128
    assert rows["long-provider"].provider == "p" * 32
    assert {rows[r].error_kind for r in ("long-model", "long-provider")} == {"unrecordable"}
    warnings = _writer_warnings(caplog)
    assert len(warnings) == 2 and "value too long" in warnings[0]


async def test_billions_of_tokens_are_recorded_and_summed(database: Database) -> None:
    ledger = UsageLedger(database, clock=lambda: NOW)
    [user] = await _users(database, 1)
    huge = Usage(THREE_BILLION, THREE_BILLION, THREE_BILLION, reasoning_tokens=THREE_BILLION)
    for n in range(2):
        _record(ledger, user, f"huge-{n}", usage=huge)
    await ledger.flush()

    rows = await _rows(database)
    row = rows["huge-0"]
    assert row.outcome == "success"
    assert (row.input_tokens, row.output_tokens) == (THREE_BILLION, THREE_BILLION)
    assert (row.cached_input_tokens, row.reasoning_tokens) == (THREE_BILLION, THREE_BILLION)
    [line] = (await ledger.report(user, *month_bounds(NOW))).lines
    assert (line.input_tokens, line.output_tokens) == (2 * THREE_BILLION, 2 * THREE_BILLION)


@pytest.mark.postgres
async def test_an_answer_whose_served_model_the_database_refuses_is_kept_as_an_error(
    make_rig: MakeRig, postgres_database: Database
) -> None:
    rig = await make_rig(postgres_database)
    await rig.add_key("openrouter")
    served = "vendor/" + "x" * 200
    rig.fakes["openrouter"].reply(text="2, 3, 5", model=served, input_tokens=20, output_tokens=8)
    answer = await rig.service().chat(QUESTION, provider="openrouter")
    assert answer.text == "2, 3, 5"  # the user has the answer; the row does not lose it either
    [row] = await rig.usage_rows()
    assert (row["outcome"], row["error_kind"]) == ("error", "unrecordable")
    assert row["model"] == served[:128] and row["finished_at"] is not None


async def test_an_attempt_without_a_limit_has_its_row_before_the_provider_answers(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig()
    await rig.add_key("openai")  # no limit: nothing to reserve, the row is written all the same
    openai = rig.fakes["openai"]
    openai.inject(Fault.stall(), path="chat/completions")
    asking = asyncio.create_task(rig.service().chat(QUESTION))
    await poll(lambda: openai.requests_to("chat/completions"), "the provider to hold the request")

    rows = await _rows(rig.engine.database)  # without flushing: it is committed already
    [row] = rows.values()
    assert (row.outcome, row.provider, row.model) == ("pending", "openai", "gpt-5.6-terra")
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    [row] = await rig.usage_rows()
    assert (row["outcome"], row["error_kind"]) == ("cancelled", "cancelled")


async def test_an_attempt_whose_row_cannot_be_written_is_not_sent(
    make_rig: MakeRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call with no row could be billed and never counted: the database must take it first."""
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "locked.db"
    rig = await make_rig(Database(migrated_sqlite_url(path)))
    await rig.add_key("openai")
    await rig.engine.user_state(rig.service().user)  # known to the engine before the lock
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        with pytest.raises(DatabaseUnavailableError):
            await rig.service().chat(QUESTION)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not rig.fakes["openai"].requests_to("chat/completions")
    assert rig.engine.ledger.queued == 0
    assert await rig.usage_rows() == []
