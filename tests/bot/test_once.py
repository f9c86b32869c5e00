"""An event delivered several times, to several instances, is taken once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from bot.once import SWEEP_EVERY_S, EventLedger
from byok.db import Database, upgrade


@pytest.fixture
async def two_databases(db_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two Database objects (two instances' pools) on one migrated database."""
    first = Database(db_url)
    await upgrade(first)
    second = Database(db_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def test_an_event_is_first_delivered_once_across_instances(
    two_databases: tuple[Database, Database],
) -> None:
    ledgers = [EventLedger(db) for db in two_databases]
    claims = await asyncio.gather(
        *(ledgers[n % 2].first_delivery("slack:event:Ev123") for n in range(20))
    )
    assert sum(claims) == 1
    assert await ledgers[1].first_delivery("slack:event:Ev124")
    assert not await ledgers[0].first_delivery("slack:event:Ev124")


async def test_a_long_key_is_kept_by_its_digest(sqlite_database: Database) -> None:
    ledger = EventLedger(sqlite_database)
    key = "discord:interaction:" + "9" * 400
    assert await ledger.first_delivery(key)
    assert not await ledger.first_delivery(key)
    assert await ledger.first_delivery(key[:-1] + "8")


async def test_expired_keys_are_swept_now_and_then(sqlite_database: Database) -> None:
    now = [0.0]
    ledger = EventLedger(sqlite_database, keep_s=0.0, monotonic=lambda: now[0])
    assert await ledger.first_delivery("slack:event:Ev1")
    now[0] += SWEEP_EVERY_S  # the next claim sweeps: keys kept 0 s are gone
    assert await ledger.first_delivery("slack:event:Ev2")
    assert await ledger.first_delivery("slack:event:Ev1")


async def test_a_database_outage_answers_every_delivery_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = EventLedger(Database("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    caplog.set_level(logging.INFO, "bot.once")
    assert [await ledger.first_delivery("slack:event:Ev1") for _ in range(3)] == [True] * 3
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "answered without checking" in warning.getMessage()
