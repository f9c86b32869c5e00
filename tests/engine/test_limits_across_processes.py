"""A monthly limit holds when several processes share one SQLite file.

`byok-bot console` beside `byok-bot run` (as the README allows) are two connections to
one file: only SQLite's own locking keeps one's check of the spend and its pending row
from interleaving with the other's.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event

from byok.answers import Answer
from byok.db import Database
from byok.db.columns import to_nanos
from byok.errors import SpendLimitError
from tests.databases import migrated_sqlite_url
from tests.engine.conftest import MakeRig, Rig
from tests.engine.test_limits import FULL_COST, MAX_TOKENS, QUESTION, WORST, script_full_answers

assert WORST is not None and FULL_COST is not None
LIMIT = WORST  # room for one request


class OtherProcess:
    """Another process on the same file, reserving the way the engine does, in plain SQL.

    It never waits for SQLite's write lock (timeout 0): it reports that it had to.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.outcomes: list[str] = []

    def reserve(self) -> None:
        other = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked: a reservation is under way
            self.outcomes.append("waited")
            other.close()
            return
        try:
            [(spent,)] = other.execute(
                "SELECT coalesce(sum(coalesce(cost, reserved_cost)), 0) FROM usage_events"
            )
            if spent + to_nanos(WORST) > to_nanos(LIMIT):
                self.outcomes.append("refused")
                return
            other.execute(
                "INSERT INTO usage_events (user_ref, request_id, provider, model, key_source, "
                "request_kind, is_fallback, outcome, reserved_cost, created_at) VALUES "
                "(1, 'other', 'openai', 'gpt-5.6-terra', 'user', 'ask', 0, 'pending', ?, "
                "'2026-11-18 12:00:00.000000')",
                (to_nanos(WORST),),
            )
            self.outcomes.append("reserved")
        finally:
            other.execute("COMMIT")
            other.close()


def _on_the_pending_insert(database: Database, act: Any) -> None:
    """Run ``act`` (once) just as the engine starts writing a pending row: after its
    check of the spend, before the row exists."""

    def trace(statement: str) -> None:
        if statement.startswith("INSERT INTO usage_events") and not fired:
            fired.append(statement)
            act()

    fired: list[str] = []

    @event.listens_for(database.engine.sync_engine, "connect")
    def watch(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(lambda driver: driver.set_trace_callback(trace))


async def test_no_other_process_can_reserve_between_the_spend_check_and_the_pending_row(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    path = tmp_path / "shared.db"
    database = Database(migrated_sqlite_url(path))
    rig = await make_rig(database)
    await rig.add_key("openai", limit=str(LIMIT))
    script_full_answers(rig, "openai", 1)
    other = OtherProcess(path)
    await database.dispose()  # new connections: traced
    _on_the_pending_insert(database, other.reserve)

    answer = await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
    assert answer.cost == FULL_COST
    assert other.outcomes == ["waited"]  # it could not slip its row in
    other.reserve()  # its turn, once the lock is free: it sees our row
    assert other.outcomes == ["waited", "refused"]
    [row] = await rig.usage_rows()
    assert (row["request_id"], row["outcome"]) == (answer.request_id, "success")


async def test_two_processes_on_one_sqlite_file_never_pass_a_limit_together(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    url = migrated_sqlite_url(tmp_path / "shared.db")
    first = Database(url)
    run, console = await make_rig(first), await make_rig(Database(url))
    await run.add_key("openai", limit=str(3 * WORST))  # room for three in flight at once
    script_full_answers(run, "openai", 20)  # one fake provider serves both

    async def ask(rig: Rig) -> Answer | SpendLimitError:
        try:
            return await rig.service().chat(QUESTION, max_tokens=MAX_TOKENS)
        except SpendLimitError as exc:
            return exc

    results = await asyncio.gather(*(ask(rig) for _ in range(6) for rig in (run, console)))
    answers = [r for r in results if isinstance(r, Answer)]
    assert len(answers) == 3, f"{len(answers)} answers under a limit with room for 3"
    await console.engine.ledger.flush()  # its finished rows are written behind, as run's
    rows = await run.usage_rows()
    assert len(rows) == 3 and all(r["outcome"] == "success" for r in rows)
