"""Claim, send, mark: one DM per user and week, failures retried, crashed claims recovered."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from bot.digest.runner import DigestRunner
from bot.messenger import DeliveryError
from byok.db import Database
from byok.db.tables import DigestLog
from byok.types import UserRef
from tests.digest.conftest import (
    ALICE,
    BOB,
    DAVE,
    PERIOD,
    Clock,
    GatedMessenger,
    RecordingMessenger,
    Seeder,
    messengers,
    settings,
)

pytestmark = pytest.mark.slow  # whole digest rounds, a chart drawn for each user: seconds a test


async def log_rows(database: Database) -> dict[int, DigestLog]:
    async with database.session() as session:
        rows = await session.scalars(select(DigestLog).where(DigestLog.period_start == PERIOD))
        return {row.user_ref: row for row in rows}


def runner(
    database: Database, clock: Clock, *chat: RecordingMessenger, **options: object
) -> DigestRunner:
    return DigestRunner(database, settings(), chat, instance="test-host", clock=clock, **options)  # type: ignore[arg-type]


async def test_each_user_due_gets_one_dm_and_later_runs_send_nothing(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    slack, discord = messengers()
    report = await runner(database, clock, slack, discord).run(PERIOD)
    assert [user for user, _ in slack.sent] == [ALICE, DAVE]
    assert [user for user, _ in discord.sent] == [BOB]
    assert sorted(map(str, report.sent)) == sorted(map(str, [ALICE, BOB, DAVE]))
    rows = await log_rows(database)
    assert set(rows) == {seeder.ids[u] for u in (ALICE, BOB, DAVE)}
    for row in rows.values():
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.sent_at == clock.now and row.claimed_by.startswith("test-host/")
    again = await runner(database, clock, slack, discord).run(PERIOD)
    assert again.sent == [] and again.already_done == 3
    assert len(slack.sent) + len(discord.sent) == 3


async def test_a_failed_send_is_retried_on_the_next_run(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    slack, discord = messengers()
    leaked = f"xoxb-{secrets.randbelow(10**10):010d}-{secrets.token_hex(12)}"
    slack.failures[ALICE] = [DeliveryError(f"ratelimited (token {leaked})", retryable=True)]
    first = await runner(database, clock, slack, discord).run(PERIOD)
    assert first.failed == [ALICE] and first.retry_users == {seeder.ids[ALICE]}
    row = (await log_rows(database))[seeder.ids[ALICE]]
    assert (row.status, row.attempts, row.sent_at) == ("failed", 1, None)
    assert row.last_error is not None and "ratelimited" in row.last_error
    assert leaked not in row.last_error and len(row.last_error) <= 200
    clock.now += timedelta(minutes=15)
    second = await runner(database, clock, slack, discord).run(PERIOD)
    assert second.sent == [ALICE] and second.already_done == 2
    row = (await log_rows(database))[seeder.ids[ALICE]]
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("sent", 2, None, clock.now)
    assert [user for user, _ in slack.sent] == [DAVE, ALICE]


async def test_undeliverable_is_final_and_retries_stop_at_max_attempts(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    slack, discord = messengers()
    slack.failures[ALICE] = [DeliveryError("ratelimited")] * 2
    discord.failures[BOB] = [DeliveryError("cannot send messages to this user", retryable=False)]
    for _ in range(3):
        report = await runner(database, clock, slack, discord, max_attempts=2).run(PERIOD)
    assert report.sent == [] and report.already_done == 3 and not report.retry_users
    rows = await log_rows(database)
    assert (rows[seeder.ids[ALICE]].status, rows[seeder.ids[ALICE]].attempts) == ("failed", 2)
    assert (rows[seeder.ids[BOB]].status, rows[seeder.ids[BOB]].attempts) == ("undeliverable", 1)
    assert slack.to(ALICE) == [] and discord.sent == []


async def test_a_claim_left_by_a_crashed_instance_is_retried_after_the_timeout(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    async with database.session() as session:
        await session.execute(insert(DigestLog).values(
            user_ref=seeder.ids[ALICE], period_start=PERIOD, status="claimed",
            claimed_by="dead-host/abcdef", claimed_at=clock.now - timedelta(minutes=5), attempts=1,
        ))  # fmt: skip
    slack, discord = messengers()
    first = await runner(database, clock, slack, discord).run(PERIOD)
    assert first.busy == 1 and first.retry_users == {seeder.ids[ALICE]}
    assert slack.to(ALICE) == []
    clock.now += timedelta(minutes=11)  # the claim is now 16 minutes old
    second = await runner(database, clock, slack, discord).run(PERIOD, users=first.retry_users)
    assert second.sent == [ALICE] and len(slack.to(ALICE)) == 1
    row = (await log_rows(database))[seeder.ids[ALICE]]
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.claimed_by.startswith("test-host/")


async def test_a_stop_right_after_the_platform_took_the_dm_still_marks_it_sent(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    slack, discord = messengers()
    running = asyncio.create_task(runner(database, clock, slack, discord).run(PERIOD))
    # The stop arrives the moment Alice's DM is out, before it is marked.
    slack.on_send = lambda user: running.cancel() if user == ALICE else None
    with pytest.raises(asyncio.CancelledError):
        await running
    row = (await log_rows(database))[seeder.ids[ALICE]]
    assert (row.status, row.sent_at) == ("sent", clock.now)
    clock.now += timedelta(minutes=16)  # a stale claim would be taken over by now
    later = await runner(database, clock, slack, discord).run(PERIOD)
    assert ALICE not in later.sent and len(slack.to(ALICE)) == 1


async def test_a_dm_sent_after_its_claim_was_taken_over_is_still_marked_sent(
    database: Database, seeder: Seeder, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    slow, discord = GatedMessenger("slack"), RecordingMessenger("discord")
    first = asyncio.create_task(runner(database, clock, slow, discord).run(PERIOD))
    await slow.waiting.wait()  # Alice's DM is slow to go out...
    clock.now += timedelta(minutes=16)  # ...so slow that another run takes her claim over
    other = RecordingMessenger("slack", failures={ALICE: [DeliveryError("ratelimited")]})
    taken = await runner(database, clock, other).run(PERIOD, users={seeder.ids[ALICE]})
    assert taken.failed == [ALICE]
    slow.gate.set()
    with caplog.at_level(logging.WARNING, logger="bot.digest.runner"):
        assert ALICE in (await first).sent
    row = (await log_rows(database))[seeder.ids[ALICE]]
    assert (row.status, row.attempts) == ("sent", 2)
    assert any(
        r.levelno == logging.WARNING and "our claim had expired" in r.getMessage()
        for r in caplog.records
    )
    clock.now += timedelta(minutes=16)
    last = await runner(database, clock, other).run(PERIOD, users={seeder.ids[ALICE]})
    assert last.sent == [] and last.already_done == 1
    assert len(slow.to(ALICE)) == 1 and other.to(ALICE) == []


async def test_an_adapter_bug_fails_one_digest_not_the_run(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    slack, discord = messengers()
    slack.failures[ALICE] = [RuntimeError("boom with sk-proj-0123456789abcdefghijkl inside")]
    report = await runner(database, clock, slack, discord).run(PERIOD)
    assert report.failed == [ALICE] and sorted(map(str, report.sent)) == [str(BOB), str(DAVE)]
    row = (await log_rows(database))[seeder.ids[ALICE]]
    assert row.status == "failed" and row.last_error is not None
    assert row.last_error.startswith("RuntimeError (ref ") and "sk-" not in row.last_error


async def test_users_on_a_platform_without_messenger_are_left_unclaimed(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    slack, discord = messengers()
    report = await runner(database, clock, slack).run(PERIOD)
    assert report.no_messenger == 1 and seeder.ids[BOB] not in await log_rows(database)
    later = await runner(database, clock, discord).run(PERIOD)  # e.g. the Discord instance
    assert later.sent == [BOB] and later.no_messenger == 2
    assert [user for user, _ in discord.sent] == [BOB]


async def test_only_opted_in_users_with_usage_or_empty_digests_are_sent(
    database: Database, seeder: Seeder, clock: Clock
) -> None:
    slack, discord = messengers()
    await runner(database, clock, slack, discord).run(PERIOD)
    got: list[UserRef] = [user for user, _ in [*slack.sent, *discord.sent]]
    assert sorted(map(str, got)) == sorted(map(str, [ALICE, BOB, DAVE]))  # not Carol, not Erin
    [dave] = slack.to(DAVE)
    assert dave.text == "No requests this week."
