"""Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from byok.db import Database, current_revision, downgrade, head_revision, upgrade
from byok.db.tables import Base, ResponseCacheEntry, UsageEvent
from byok.preferences import PreferenceStore
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


async def test_rows_from_before_cache_writes_were_recorded_say_unknown(
    empty_db_url: str,
) -> None:
    """Migration 0007: an older row's cache writes are unknown (NULL), not 0."""
    database = Database(empty_db_url)
    try:
        await upgrade(database, "0006")
        now = datetime(2026, 12, 1, tzinfo=UTC)
        async with database.session() as session:
            user_ref = await user_id_or_create(session, UserRef("slack", "T1", "U1"), now)
        row = {
            "user_ref": user_ref, "provider": "anthropic", "model": "claude-sonnet-4-6",
            "key_source": "user", "request_kind": "ask", "is_fallback": False,
            "outcome": "success", "created_at": now, "cached_input_tokens": 900,
        }  # fmt: skip
        async with database.transaction() as conn:
            await conn.execute(insert(UsageEvent), [{**row, "request_id": "before"}])
        await upgrade(database)
        async with database.transaction() as conn:
            await conn.execute(
                insert(UsageEvent), [{**row, "request_id": "after", "cache_write_tokens": 40}]
            )
            found = await conn.execute(
                select(
                    UsageEvent.request_id,
                    UsageEvent.cached_input_tokens,
                    UsageEvent.cache_write_tokens,
                )
            )
            assert {r[0]: r[1:] for r in found} == {"before": (900, None), "after": (900, 40)}
    finally:
        await database.dispose()


async def test_0006_downgrades_with_cached_rows_and_upgrades_again(db_url: str) -> None:
    """Down to 0005: cached rows, saved costs, cache preferences and the cache table go;
    every other row stays, the old outcome check holds. Up again: the declared schema."""
    database = Database(db_url)
    try:
        await upgrade(database)
        now = datetime(2026, 11, 18, tzinfo=UTC)
        async with database.session() as session:
            user_ref = await user_id_or_create(session, UserRef("slack", "T1", "U1"), now)
        await PreferenceStore(database).update(
            UserRef("slack", "T1", "U1"), cache_answers=True, cache_ttl_s=3600
        )
        row = {
            "user_ref": user_ref, "provider": "openai", "model": "gpt-5.6-terra",
            "key_source": "user", "request_kind": "ask", "is_fallback": False,
            "created_at": now, "cost": None, "saved_cost": None, "reserved_cost": None,
        }  # fmt: skip
        async with database.transaction() as conn:
            await conn.execute(
                insert(UsageEvent),
                [
                    {**row, "request_id": "asked", "outcome": "success", "cost": Decimal("0.01")},
                    {**row, "request_id": "hit", "outcome": "cached", "cost": Decimal(0),
                     "saved_cost": Decimal("0.01")},
                    {**row, "request_id": "hit-unknown", "outcome": "cached", "cost": Decimal(0)},
                    {**row, "request_id": "running", "outcome": "pending",
                     "reserved_cost": Decimal("0.5")},
                ],
            )  # fmt: skip
            await conn.execute(
                insert(ResponseCacheEntry),
                [{"user_ref": user_ref, "key_hash": "ab" * 32, "provider": "openai",
                  "sealed": b"\x00" * 40, "master_key_id": "k1", "size": 40,
                  "created_at": now, "expires_at": now}],
            )  # fmt: skip

        assert await downgrade(database, "0005") == (head_revision(), "0005")

        def schema(connection: Connection) -> dict[str, object]:
            found = inspect(connection)
            return {
                "tables": set(found.get_table_names()),
                "usage": {c["name"] for c in found.get_columns("usage_events")},
                "prefs": {c["name"] for c in found.get_columns("user_ai_preferences")},
                "indexes": {i["name"] for i in found.get_indexes("usage_events")},
            }

        async with database.engine.connect() as conn:
            old = await conn.run_sync(schema)
            kept = await conn.execute(
                text("SELECT request_id, outcome FROM usage_events ORDER BY request_id")
            )
            assert [tuple(r) for r in kept] == [("asked", "success"), ("running", "pending")]
        assert "response_cache" not in old["tables"]  # type: ignore[operator]
        assert "saved_cost" not in old["usage"]  # type: ignore[operator]
        assert not {"cache_answers", "cache_ttl_s"} & old["prefs"]  # type: ignore[operator]
        assert "ix_usage_events_pending" in old["indexes"]  # type: ignore[operator]
        with pytest.raises(IntegrityError):  # 0005's check: no cached outcome
            async with database.transaction() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO usage_events (user_ref, request_id, provider, model, "
                        "key_source, request_kind, is_fallback, outcome, created_at) VALUES "
                        "(:u, 'late', 'openai', 'm', 'user', 'ask', false, 'cached', :at)"
                    ),
                    {"u": user_ref, "at": now},
                )

        assert await upgrade(database) == ("0005", head_revision())
        async with database.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        async with database.transaction() as conn:
            await conn.execute(
                insert(UsageEvent),
                [{**row, "request_id": "again", "outcome": "cached", "cost": Decimal(0),
                  "saved_cost": Decimal("0.02")}],
            )  # fmt: skip
            found = await conn.execute(
                select(UsageEvent.request_id, UsageEvent.outcome, UsageEvent.saved_cost)
                .order_by(UsageEvent.request_id)
            )  # fmt: skip
            assert [tuple(r) for r in found] == [
                ("again", "cached", Decimal("0.02")),
                ("asked", "success", None),
                ("running", "pending", None),
            ]
        prefs = await PreferenceStore(database).get(UserRef("slack", "T1", "U1"))
        assert not prefs.cache_answers and prefs.cache_ttl_s is None  # back to the defaults
    finally:
        await database.dispose()
