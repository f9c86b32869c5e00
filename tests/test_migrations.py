"""Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, select

from byok.db import Database, current_revision, head_revision, upgrade
from byok.db.tables import Base, UsageEvent
from byok.types import UserRef
from byok.users import user_id_or_create
from tests.postgres_server import PostgresServer


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(database: Database) -> None:
    async with database.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
    assert await current_revision(database) == head_revision()


async def test_usage_indexes_fit_the_queries(database: Database) -> None:
    def indexes(connection: Connection) -> dict[str, list[str | None]]:
        found = inspect(connection).get_indexes("usage_events")
        return {i["name"] or "": list(i["column_names"]) for i in found}

    async with database.engine.connect() as conn:
        found = await conn.run_sync(indexes)
    assert found["ix_usage_events_user_ref_created_at"] == ["user_ref", "created_at"]
    assert found["ix_usage_events_created_at_user_ref"] == ["created_at", "user_ref"]
    assert found["ix_usage_events_pending"] == ["created_at"]  # partial: pending rows only


async def test_closing_abandoned_rows_reads_only_the_pending_index(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/plan.db")
    await upgrade(database)
    try:
        async with database.engine.connect() as conn:
            plan = await conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN UPDATE usage_events SET outcome = 'cancelled' "
                "WHERE outcome = 'pending' AND created_at < '2026-01-01'"
            )
            details = " ".join(str(row[-1]) for row in plan)
        assert "ix_usage_events_pending" in details, details
    finally:
        await database.dispose()


async def test_upgrade_is_idempotent(database: Database) -> None:
    before, after = await upgrade(database)
    assert before == after == head_revision()


async def test_concurrent_upgrades_on_postgresql_do_not_conflict(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database()
    databases = [Database(url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(upgrade(db) for db in databases))
        assert {after for _, after in results} == {head_revision()}
        assert sum(1 for before, _ in results if before is None) == 1
    finally:
        for db in databases:
            await db.dispose()


async def test_upgrading_to_64_bit_token_counts_keeps_the_rows(empty_db_url: str) -> None:
    database = Database(empty_db_url)
    try:
        await upgrade(database, "0003")
        now = datetime(2026, 11, 18, tzinfo=UTC)
        async with database.session() as session:
            user_ref = await user_id_or_create(session, UserRef("slack", "T1", "U1"), now)
        row = {
            "user_ref": user_ref, "provider": "openai", "model": "gpt-5.6-terra",
            "key_source": "user", "request_kind": "ask", "is_fallback": False,
            "outcome": "success", "created_at": now,
        }  # fmt: skip
        async with database.transaction() as conn:
            await conn.execute(
                insert(UsageEvent), [{**row, "request_id": "before", "input_tokens": 7}]
            )
        await upgrade(database)
        async with database.transaction() as conn:
            await conn.execute(
                insert(UsageEvent), [{**row, "request_id": "after", "input_tokens": 3_000_000_000}]
            )
            found = await conn.execute(select(UsageEvent.request_id, UsageEvent.input_tokens))
            assert {name: count for name, count in found} == {"before": 7, "after": 3_000_000_000}
    finally:
        await database.dispose()
