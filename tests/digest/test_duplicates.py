"""Two bot instances, one database, the same week: every user gets exactly one digest.

Each instance has its own engine and connection pool (as two processes would) on one
real database; their runs interleave on the event loop at every database round trip.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.digest.runner import DigestRunner
from bot.digest.scheduler import DigestScheduler
from byok.db import Database
from byok.db.tables import DigestLog
from byok.types import UserRef
from byok.vault import Keyring
from tests.digest.conftest import (
    PERIOD,
    SEND_AT,
    Clock,
    RecordingMessenger,
    Seeder,
    Use,
    berlin,
    seed_standard,
    settings,
)

pytestmark = pytest.mark.slow  # two instances race over dozens of digests, charts and all

CROWD = [UserRef("slack", "T1", f"W{n:02}") for n in range(30)] + [
    UserRef("discord", "G2", f"D{n:02}") for n in range(10)
]


@pytest.fixture
async def two_instances(
    db_url: str, keyring: Keyring
) -> AsyncIterator[tuple[Database, Database, Seeder]]:
    first, second = Database(db_url), Database(db_url)
    seed = Seeder(first, keyring)
    await seed_standard(seed)
    # Unknown prices: no chart to draw, so the race is about claims, not rendering time.
    await seed.usage(*(Use(u, "openai", "gpt-5", berlin(17, n % 24)) for n, u in enumerate(CROWD)))
    yield first, second, seed
    await first.dispose()
    await second.dispose()


def recipients(seed: Seeder) -> set[UserRef]:
    return {*CROWD, *(u for u in seed.ids if u.user in ("U1", "U2", "U4"))}


def delivered(*chat: RecordingMessenger) -> Counter[UserRef]:
    return Counter(user for messenger in chat for user, _ in messenger.sent)


async def test_two_runners_racing_for_the_same_week(
    two_instances: tuple[Database, Database, Seeder], clock: Clock
) -> None:
    first_db, second_db, seed = two_instances
    chat_a = [RecordingMessenger("slack"), RecordingMessenger("discord")]
    chat_b = [RecordingMessenger("slack"), RecordingMessenger("discord")]
    a = DigestRunner(first_db, settings(), chat_a, instance="bot-a", clock=clock)
    b = DigestRunner(second_db, settings(), chat_b, instance="bot-b", clock=clock, batch_size=7)
    reports = await asyncio.gather(a.run(PERIOD), b.run(PERIOD))
    sent = delivered(*chat_a, *chat_b)
    assert set(sent) == recipients(seed) and set(sent.values()) == {1}
    assert sum(len(r.sent) for r in reports) == len(sent) == 43
    async with first_db.session() as session:
        statuses = dict((await session.execute(
            select(DigestLog.status, func.count()).group_by(DigestLog.status))).all())  # fmt: skip
    assert statuses == {"sent": 43}
    # Both keep running later: nothing more goes out.
    again = await asyncio.gather(a.run(PERIOD), b.run(PERIOD))
    assert [r.sent for r in again] == [[], []] and delivered(*chat_a, *chat_b) == sent


async def test_two_schedulers_starting_together_after_downtime(
    two_instances: tuple[Database, Database, Seeder], clock: Clock
) -> None:
    first_db, second_db, seed = two_instances
    clock.now = SEND_AT.astimezone(UTC) + timedelta(hours=2)
    chat = {name: [RecordingMessenger("slack"), RecordingMessenger("discord")] for name in "ab"}
    schedulers = [
        DigestScheduler(DigestRunner(db, settings(), chat[name], instance=f"bot-{name}", clock=clock),
                        settings(), clock=clock)
        for name, db in (("a", first_db), ("b", second_db))
    ]  # fmt: skip
    await asyncio.gather(*(s.start() for s in schedulers))
    await asyncio.gather(*(s.wait_idle() for s in schedulers))
    await asyncio.gather(*(s.tick("retry") for s in schedulers))  # a retry tick changes nothing
    await asyncio.gather(*(s.stop() for s in schedulers))
    sent = delivered(*chat["a"], *chat["b"])
    assert set(sent) == recipients(seed) and set(sent.values()) == {1}


async def test_claims_race_head_on_first_and_on_retry(
    two_instances: tuple[Database, Database, Seeder], clock: Clock
) -> None:
    """Every pair of claims for one (user, week) is in flight at once: one winner each."""
    first_db, second_db, seed = two_instances
    a = DigestRunner(first_db, settings(), [], instance="bot-a", clock=clock)
    b = DigestRunner(second_db, settings(), [], instance="bot-b", clock=clock)
    users = sorted(seed.ids.values())
    won = await asyncio.gather(*(r.claim(u, PERIOD) for u in users for r in (a, b)))
    assert [won[n] + won[n + 1] for n in range(0, len(won), 2)] == [1] * len(users)
    async with first_db.session() as session:
        await session.execute(update(DigestLog).values(status="failed"))
    clock.now += timedelta(minutes=1)
    won = await asyncio.gather(*(r.claim(u, PERIOD) for u in users for r in (b, a)))
    assert [won[n] + won[n + 1] for n in range(0, len(won), 2)] == [1] * len(users)
    async with first_db.session() as session:
        attempts = set((await session.scalars(select(DigestLog.attempts))).all())
    assert attempts == {2}
