"""The schedule: which week is due, catch-up after downtime, retries, and APScheduler's job."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from bot.digest.runner import DigestRunner
from bot.digest.schedule import DigestSchedule
from bot.digest.scheduler import DIGEST_JOB, RETRY_JOB, DigestScheduler
from bot.messenger import DeliveryError
from byok.db import Database
from byok.db.tables import DigestLog
from tests.digest.conftest import (
    ALICE,
    BERLIN,
    DAVE,
    PERIOD,
    SEND_AT,
    Clock,
    GatedMessenger,
    RecordingMessenger,
    Seeder,
    messengers,
    settings,
)

pytestmark = pytest.mark.slow  # whole digest rounds, a chart drawn for each user: seconds a test

NEW_YORK = ZoneInfo("America/New_York")


def scheduler(database: Database, clock: Clock, *chat: RecordingMessenger) -> DigestScheduler:
    runner = DigestRunner(database, settings(), chat, instance="test-host", clock=clock)
    return DigestScheduler(runner, settings(), clock=clock)


def dm_count(*chat: RecordingMessenger) -> int:
    return sum(len(m.sent) for m in chat)


def test_the_week_a_send_covers() -> None:
    schedule = DigestSchedule(settings())
    assert schedule.latest_send(SEND_AT) == SEND_AT
    assert schedule.latest_send(SEND_AT - timedelta(seconds=1)) == SEND_AT - timedelta(days=7)
    assert schedule.period_ending_by(SEND_AT) == PERIOD
    # Monday 00:30 in Berlin is still Sunday in UTC; the week that ended is the same.
    assert schedule.period_ending_by(datetime(2026, 11, 23, 0, 30, tzinfo=BERLIN)) == PERIOD
    friday = DigestSchedule(settings(day="fri", time="17:30", timezone="America/New_York"))
    send = datetime(2026, 11, 20, 17, 30, tzinfo=NEW_YORK)
    assert friday.latest_send(send + timedelta(days=2)) == send
    assert friday.period_ending_by(send) == date(2026, 11, 13)  # Fri 13 – Thu 19


def test_the_send_time_follows_summer_time() -> None:
    schedule = DigestSchedule(settings())
    after_change = schedule.latest_send(datetime(2026, 10, 26, 12, tzinfo=UTC))
    before_change = schedule.latest_send(datetime(2026, 10, 19, 12, tzinfo=UTC))
    assert after_change.astimezone(UTC).hour == 8 and before_change.astimezone(UTC).hour == 7


def test_due_and_grace() -> None:
    schedule = DigestSchedule(settings(grace_hours=24))
    late = schedule.due(SEND_AT + timedelta(hours=23, minutes=59))
    assert late.period_start == PERIOD and late.within_grace
    assert not schedule.due(SEND_AT + timedelta(hours=24, minutes=1)).within_grace
    early = schedule.due(SEND_AT - timedelta(seconds=20), early=timedelta(minutes=1))
    assert early.scheduled_at == SEND_AT and early.within_grace


async def test_back_within_grace_after_a_full_restart_sends_once(
    sqlite_seeder: Seeder, clock: Clock
) -> None:
    clock.now = SEND_AT.astimezone(UTC) + timedelta(hours=3)  # down over 09:00, back at 12:00
    slack, discord = messengers()
    first = scheduler(sqlite_seeder.database, clock, slack, discord)
    await first.start()
    await first.wait_idle()
    await first.stop()
    assert dm_count(slack, discord) == 3
    clock.now += timedelta(hours=1)  # restarted again, still within grace
    second = scheduler(sqlite_seeder.database, clock, slack, discord)
    await second.start()
    await second.wait_idle()
    await second.stop()
    assert dm_count(slack, discord) == 3


async def test_back_after_grace_nothing_is_sent_and_the_miss_is_logged(
    database: Database, seeder: Seeder, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    clock.now = SEND_AT.astimezone(UTC) + timedelta(hours=25)
    slack, discord = messengers()
    digests = scheduler(database, clock, slack, discord)
    with caplog.at_level(logging.WARNING, logger="bot.digest.scheduler"):
        await digests.start()
        await digests.wait_idle()
        assert await digests.tick("retry") is None
    await digests.stop()
    assert dm_count(slack, discord) == 0
    [warning] = [r.getMessage() for r in caplog.records if r.name == "bot.digest.scheduler"]
    assert "Mon 16 – Sun 22 Nov 2026 was due at 2026-11-23T09:00:00+01:00" in warning
    assert "grace_hours = 24.0, so it is not sent" in warning


async def test_the_retry_tick_resends_only_what_failed(sqlite_seeder: Seeder, clock: Clock) -> None:
    slack, discord = messengers()
    slack.failures[ALICE] = [DeliveryError("ratelimited")]
    digests = scheduler(sqlite_seeder.database, clock, slack, discord)
    first = await digests.tick("schedule")
    assert first is not None and first.failed == [ALICE] and len(first.sent) == 2
    clock.now += timedelta(minutes=15)
    retry = await digests.tick("retry")
    assert retry is not None and retry.sent == [ALICE] and retry.already_done == 0
    assert await digests.tick("retry") is None  # nothing left to do, no query made
    assert dm_count(slack, discord) == 3


async def test_apscheduler_runs_the_cron_job_with_grace_and_coalescing(
    sqlite_seeder: Seeder, clock: Clock
) -> None:
    clock.now = SEND_AT.astimezone(UTC) - timedelta(days=2)  # nothing due at start-up
    slack, discord = messengers()
    all_sent = asyncio.Event()
    slack.on_send = discord.on_send = lambda _user: (
        all_sent.set() if dm_count(slack, discord) == 3 else None
    )
    digests = scheduler(sqlite_seeder.database, clock, slack, discord)
    await digests.start()
    try:
        job = digests.scheduler.get_job(DIGEST_JOB)
        assert isinstance(job.trigger, CronTrigger)
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon", "9", "0")
        assert job.trigger.timezone == BERLIN
        assert job.misfire_grace_time == 24 * 3600 and job.coalesce and job.max_instances == 1
        upcoming = job.next_run_time.astimezone(BERLIN)
        assert (upcoming.weekday(), upcoming.hour, upcoming.minute) == (0, 9, 0)
        retry = digests.scheduler.get_job(RETRY_JOB)
        assert isinstance(retry.trigger, IntervalTrigger)
        assert retry.trigger.interval == timedelta(minutes=15)
        await digests.wait_idle()
        assert dm_count(slack, discord) == 0
        # Now the send time comes: APScheduler itself runs the job (on real time; the
        # digest's notion of "now" is the test clock).
        clock.now = SEND_AT.astimezone(UTC)
        job.modify(next_run_time=datetime.now(UTC))
        await asyncio.wait_for(all_sent.wait(), timeout=30)
        await digests.wait_idle()
        assert dm_count(slack, discord) == 3
        assert job.next_run_time > datetime.now(UTC)  # back on the weekly schedule
    finally:
        await digests.stop()
    assert not digests.scheduler.running


async def test_a_disabled_digest_schedules_nothing(sqlite_database: Database, clock: Clock) -> None:
    runner = DigestRunner(sqlite_database, settings(enabled=False), [], clock=clock)
    digests = DigestScheduler(runner, settings(enabled=False), clock=clock)
    await digests.start()
    assert digests.scheduler.get_jobs() == [] and not digests.scheduler.running
    await digests.stop()


async def test_stop_finishes_the_dm_being_sent_and_leaves_the_rest_unclaimed(
    sqlite_seeder: Seeder, clock: Clock
) -> None:
    database = sqlite_seeder.database
    slack, discord = GatedMessenger("slack"), RecordingMessenger("discord")
    digests = scheduler(database, clock, slack, discord)
    await digests.start()
    await slack.waiting.wait()  # Alice's DM is on its way
    digests.stop_starting()  # what `byok-bot run` does first on SIGTERM
    stopping = asyncio.create_task(digests.stop(wait_s=30))
    slack.gate.set()
    await stopping
    assert [user for user, _ in slack.sent] == [ALICE] and discord.sent == []
    async with database.session() as session:
        rows = (await session.execute(select(DigestLog.user_ref, DigestLog.status))).all()
    assert rows == [(sqlite_seeder.ids[ALICE], "sent")]  # nobody else was claimed
    # So the next instance sends the rest at once, with no stale claim to wait for.
    later_slack, later_discord = messengers()
    restarted = scheduler(database, clock, later_slack, later_discord)
    await restarted.start()
    await restarted.wait_idle()
    await restarted.stop()
    assert [user for user, _ in later_slack.sent] == [DAVE] and len(later_discord.sent) == 1


async def test_a_scheduler_told_to_stop_starts_no_run(sqlite_seeder: Seeder, clock: Clock) -> None:
    slack, discord = messengers()
    digests = scheduler(sqlite_seeder.database, clock, slack, discord)
    digests.stop_starting()
    assert await digests.tick("schedule") is None
    await digests.start()  # its start-up catch-up run does not start either
    await digests.wait_idle()
    await digests.stop()
    assert dm_count(slack, discord) == 0


async def test_a_run_cut_off_at_stop_is_finished_by_the_next_instance(
    sqlite_seeder: Seeder, clock: Clock
) -> None:
    slack, discord = GatedMessenger("slack"), RecordingMessenger("discord")
    digests = scheduler(sqlite_seeder.database, clock, slack, discord)
    await digests.start()
    await slack.waiting.wait()
    await digests.stop(wait_s=0)  # the DM to Alice never went out; her claim stays
    assert slack.sent == []
    clock.now += timedelta(minutes=16)  # past the claim timeout, still within grace
    later_slack, later_discord = messengers()
    restarted = scheduler(sqlite_seeder.database, clock, later_slack, later_discord)
    await restarted.start()
    await restarted.wait_idle()
    await restarted.stop()
    assert [user for user, _ in later_slack.sent] == [ALICE, DAVE]
    assert dm_count(later_slack, later_discord) + dm_count(slack, discord) == 3
