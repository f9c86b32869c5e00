"""An event delivered several times, to several instances, is taken once.

On PostgreSQL through the ``handled_events`` table, which every instance shares; on
SQLite (one ``run`` per file) in the process's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.once import SWEEP_EVERY_S, EventLedger
from byok.db import Database
from byok.db.tables import HandledEvent
from tests.postgres_server import PostgresServer


@pytest.fixture
async def two_instances(postgres_server: PostgresServer) -> AsyncIterator[list[Database]]:
    """Two Database objects (two instances' pools) on one migrated PostgreSQL database."""
    url = postgres_server.create_migrated_database()
    databases = [Database(url), Database(url)]
    yield databases
    for database in databases:
        await database.dispose()


async def handled_rows(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(HandledEvent)) or 0)


@pytest.mark.postgres
async def test_an_event_is_first_delivered_once_across_instances(
    two_instances: list[Database],
) -> None:
    ledgers = [EventLedger(db) for db in two_instances]
    claims = await asyncio.gather(
        *(ledgers[n % 2].first_delivery("slack:event:Ev123") for n in range(20))
    )
    assert sum(claims) == 1
    assert await ledgers[1].first_delivery("slack:event:Ev124")
    assert not await ledgers[0].first_delivery("slack:event:Ev124")
    assert await handled_rows(two_instances[0]) == 2


@pytest.mark.postgres
async def test_a_long_key_is_kept_by_its_digest(two_instances: list[Database]) -> None:
    ledger = EventLedger(two_instances[0])
    key = "discord:interaction:" + "9" * 400
    assert await ledger.first_delivery(key)
    assert not await EventLedger(two_instances[1]).first_delivery(key)
    assert await ledger.first_delivery(key[:-1] + "8")


@pytest.mark.postgres
async def test_expired_keys_are_swept_now_and_then(two_instances: list[Database]) -> None:
    now = [0.0]
    ledger = EventLedger(two_instances[0], keep_s=0.0, monotonic=lambda: now[0])
    assert await ledger.first_delivery("slack:event:Ev1")
    now[0] += SWEEP_EVERY_S  # the next claim sweeps: keys kept 0 s are gone
    assert await ledger.first_delivery("slack:event:Ev2")
    assert await handled_rows(two_instances[0]) == 0
    assert await ledger.first_delivery("slack:event:Ev1")


async def test_a_database_outage_answers_every_delivery_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = EventLedger(Database("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    caplog.set_level(logging.INFO, "bot.once")
    assert [await ledger.first_delivery("slack:event:Ev1") for _ in range(3)] == [True] * 3
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "answered without checking" in warning.getMessage()


async def test_on_sqlite_the_process_remembers_events_without_writing(
    sqlite_database: Database,
) -> None:
    now = [0.0]
    ledger = EventLedger(sqlite_database, keep_s=3600, monotonic=lambda: now[0])
    claims = await asyncio.gather(*(ledger.first_delivery("slack:event:Ev1") for _ in range(20)))
    assert sum(claims) == 1
    now[0] += 3599
    assert not await ledger.first_delivery("slack:event:Ev1")
    assert await ledger.first_delivery("slack:event:Ev2")
    now[0] += 2  # Ev1 is over an hour old: forgotten; Ev2 is kept
    assert await ledger.first_delivery("slack:event:Ev1")
    assert not await ledger.first_delivery("slack:event:Ev2")
    assert await handled_rows(sqlite_database) == 0
