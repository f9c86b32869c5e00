"""Rate limits shared through the database: several instances, one allowance.

Each instance is an Engine on its own ``Database`` object (its own connection pool) to
the same database, as two ``byok-bot run`` processes would be.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from byok.db import Database
from byok.db.tables import RateBucket
from byok.engine import EngineSettings
from byok.errors import RequestRateLimitError
from byok.ratelimit import RequestRateLimiter, SharedRequestLimiter, request_limiter
from byok.shared_rate import SharedBucket
from tests.engine.conftest import ALICE, BOB, MakeRig
from tests.postgres_server import PostgresServer

QUESTION = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
async def two_databases(db_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two Database objects (two instances' pools) on one migrated database."""
    first = Database(db_url)
    second = Database(db_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def taken_by(bucket: SharedBucket, subject: str, count: int) -> list[bool]:
    return [(await bucket.take(subject)).allowed for _ in range(count)]


async def test_a_bucket_allows_its_burst_then_says_how_long_to_wait(
    two_databases: tuple[Database, Database],
) -> None:
    first, second = two_databases
    a = SharedBucket(first, "test", per_second=1 / 60, burst=3)
    b = SharedBucket(second, "test", per_second=1 / 60, burst=3)

    assert await taken_by(a, "s1", 2) + await taken_by(b, "s1", 2) == [True, True, True, False]
    refused = await a.take("s1")
    assert not refused.allowed
    # A token comes back every 60 s: the next one within a minute, not sooner than ~59 s.
    assert 55 < a.wait_s(refused.ahead_s) <= 60
    assert a.tokens(refused.ahead_s) < 1
    assert await taken_by(b, "s2", 1) == [True]  # another subject has its own bucket
    assert await taken_by(SharedBucket(first, "other", per_second=1, burst=1), "s1", 1) == [True]


async def test_a_take_in_debt_is_never_refused_and_its_debt_is_bounded(
    two_databases: tuple[Database, Database],
) -> None:
    first, second = two_databases
    a = SharedBucket(first, "test", per_second=1 / 60, burst=2)
    b = SharedBucket(second, "test", per_second=1 / 60, burst=2)

    for _ in range(10):
        taken = await (a if _ % 2 else b).take_in_debt("team", max_debt=2)
        assert taken.allowed
    assert a.tokens(taken.ahead_s) == pytest.approx(-2, abs=0.01)
    assert not (await b.take("team")).allowed
    # A hold deeper than the debt is kept by a later take in debt.
    held = await a.hold("team", 3600)
    assert b.wait_s(held.ahead_s) == pytest.approx(3600, abs=1)
    after = await b.take_in_debt("team", max_debt=2)
    assert b.wait_s(after.ahead_s) == pytest.approx(3600, abs=1)


async def test_concurrent_takes_from_two_instances_never_share_a_token(
    two_databases: tuple[Database, Database],
) -> None:
    first = two_databases[0]
    buckets = [SharedBucket(db, "test", per_second=1 / 3600, burst=10) for db in two_databases]
    results = await asyncio.gather(*(buckets[n % 2].take("busy") for n in range(30)))
    assert sum(r.allowed for r in results) == 10
    async with first.session() as session:
        rows = await session.scalar(select(func.count()).select_from(RateBucket))
    assert rows == 1


def test_the_limiter_is_shared_on_postgresql_and_in_process_on_sqlite(
    postgres_server: PostgresServer, tmp_path: object
) -> None:
    assert isinstance(
        request_limiter(Database(f"sqlite+aiosqlite:///{tmp_path}/x.db"), 20), RequestRateLimiter
    )
    assert isinstance(
        request_limiter(Database(postgres_server.create_database()), 20), SharedRequestLimiter
    )


@pytest.mark.postgres
async def test_two_instances_allow_a_user_the_per_minute_allowance_once(
    make_rig: MakeRig, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_migrated_database()
    databases = [Database(url), Database(url)]
    settings = EngineSettings(requests_per_minute=20)
    rigs = [await make_rig(db, settings=settings) for db in databases]
    await rigs[0].add_key("openai")
    await rigs[0].add_key("openai", user=BOB)

    started = time.monotonic()
    outcomes = await asyncio.gather(
        *(rigs[n % 2].service().chat(QUESTION) for n in range(26)), return_exceptions=True
    )
    elapsed = time.monotonic() - started

    refused = [o for o in outcomes if isinstance(o, RequestRateLimitError)]
    answered = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(answered) + len(refused) == 26, [o for o in outcomes if o not in answered]
    # 20 a minute, bursts of 20: one more token comes back every 3 s the test runs.
    assert 20 <= len(answered) <= 20 + int(elapsed / 3)
    assert all(0 < r.retry_after <= 3 for r in refused)
    # Another user has an allowance of their own, whichever instance they reach.
    await rigs[1].service(BOB).chat(QUESTION)


async def test_a_database_outage_lets_the_question_through_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = SharedRequestLimiter(Database("postgresql+asyncpg://nobody@127.0.0.1:1/none"), 1)
    caplog.set_level(logging.INFO, "byok.ratelimit")
    for _ in range(3):
        await limiter.acquire(ALICE)  # allowed, though 1 a minute would refuse the second
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "shared request rate limit" in warnings[0].getMessage()
    assert "allowed unchecked" in warnings[0].getMessage()


async def test_the_in_process_limiter_refuses_past_its_burst() -> None:
    now = [0.0]
    limiter = RequestRateLimiter(2, monotonic=lambda: now[0])
    await limiter.acquire(ALICE)
    await limiter.acquire(ALICE)
    with pytest.raises(RequestRateLimitError) as caught:
        await limiter.acquire(ALICE)
    assert caught.value.retry_after == pytest.approx(30)
    now[0] += 30
    await limiter.acquire(ALICE)
