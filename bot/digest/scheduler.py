"""When weekly digests go out: an APScheduler 3 cron job, catch-up, and retries.

:class:`~bot.digest.schedule.DigestSchedule` says when a digest is due.
:class:`DigestScheduler` runs an :class:`~apscheduler.schedulers.asyncio.AsyncIOScheduler`
with that trigger (``misfire_grace_time`` = grace_hours, ``coalesce``), a retry job
every few minutes, and one check at start-up. Every one of them calls :meth:`tick`,
which sends the week whose scheduled time is the latest one passed, if that was no
more than grace_hours ago. APScheduler's misfire handling only covers a bot that was
running but stalled; the start-up check covers a full restart. Duplicates are
impossible either way: each (user, week) is claimed in ``digest_log`` before sending.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from bot.config import DigestSettings
from bot.digest.message import week_label
from bot.digest.runner import DigestRunner, RunReport
from bot.digest.schedule import DigestSchedule, Due
from bot.inflight import InFlightWork
from byok.clock import Clock, utc_now
from byok.db.tables import DigestLog

__all__ = ["DigestScheduler"]

log = logging.getLogger(__name__)

DIGEST_JOB = "weekly-digest"
RETRY_JOB = "weekly-digest-retry"


class DigestScheduler:
    """Sends the weekly digest on schedule, after a restart within grace, and retries.

    ``start()`` and ``stop()`` belong to the bot's lifecycle; ``tick()`` is what every
    trigger runs, and tests call it directly with a controlled clock.
    """

    def __init__(
        self,
        runner: DigestRunner,
        settings: DigestSettings,
        *,
        clock: Clock = utc_now,
        retry_every: timedelta = timedelta(minutes=15),
        early: timedelta = timedelta(minutes=1),
    ) -> None:
        self.schedule = DigestSchedule(settings)
        self.runner = runner
        self.enabled = settings.enabled
        self._clock = clock
        self._retry_every = retry_every
        self._early = early  # a timer may fire a moment before the clock reads the send time
        self._scheduler = AsyncIOScheduler(timezone=self.schedule.timezone)
        self._lock = asyncio.Lock()
        self._ticks = InFlightWork()
        self._runs: dict[date, RunReport] = {}
        self._missed: set[date] = set()
        self._stopping = False

    @property
    def scheduler(self) -> AsyncIOScheduler:
        return self._scheduler

    @property
    def next_run_time(self) -> datetime | None:
        job = self._scheduler.get_job(DIGEST_JOB)
        return job.next_run_time if job is not None else None

    async def start(self) -> None:
        """Schedule the weekly send and the retries, and catch up on a send missed while down."""
        if not self.enabled:
            log.info("weekly digest: disabled ([digest] enabled = false)")
            return
        grace_s = max(1, int(self.schedule.grace.total_seconds()))
        self._scheduler.add_job(
            self._job, self.schedule.trigger, args=["schedule"], id=DIGEST_JOB,
            name="weekly digest", misfire_grace_time=grace_s, coalesce=True,
            max_instances=1, replace_existing=True,
        )  # fmt: skip
        self._scheduler.add_job(
            self._job, IntervalTrigger(seconds=self._retry_every.total_seconds()),
            args=["retry"], id=RETRY_JOB, name="weekly digest retries",
            misfire_grace_time=None, coalesce=True, max_instances=1, replace_existing=True,
        )  # fmt: skip
        self._scheduler.start()
        log.info("weekly digest: %s; next at %s", self.schedule.describe(), self.next_run_time)
        self._fire("startup")

    def stop_starting(self) -> None:
        """Start no run from now on; a run in progress stops after the DM it is sending.

        The bot calls this as soon as it is told to stop, before it waits for commands.
        """
        self._stopping = True
        self.runner.stop_after_current()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def stop(self, wait_s: float = 30.0) -> None:
        """Stop the triggers, let the DM in progress be sent and marked (up to ``wait_s``)."""
        self.stop_starting()
        # AsyncIOScheduler shuts down in a loop callback (call_soon_threadsafe): let it run.
        await asyncio.sleep(0)
        if not await self._ticks.wait_idle(wait_s):
            # Cut off mid-send: that claim goes stale and is retried after its timeout.
            # A send already accepted is still marked (see DigestRunner).
            await self._ticks.cancel_rest()

    async def wait_idle(self) -> None:
        """Wait until the runs started so far have finished."""
        await self._ticks.wait_idle()

    async def _job(self, reason: str) -> None:
        # A coroutine, so APScheduler runs it on the event loop (a plain function would
        # go to a worker thread). The run itself is our own task: APScheduler's shutdown
        # cancels the jobs it is running, which would cut a digest off mid-send.
        self._fire(reason)

    def _fire(self, reason: str) -> None:
        if self._stopping:
            return
        self._ticks.start(self._guarded(reason), name=f"digest-{reason}")

    async def _guarded(self, reason: str) -> None:
        try:
            await self.tick(reason)
        except Exception:  # a background job's boundary: log it, the next tick retries
            log.exception("weekly digest: the %s run failed; the next retry tries again", reason)

    async def tick(self, reason: str = "manual") -> RunReport | None:
        """Send the due week if within grace: everyone on the first run, then only retries."""
        if self._stopping:
            return None
        if self._lock.locked():
            log.debug("weekly digest: %s tick skipped, a run is in progress", reason)
            return None
        async with self._lock:
            now = self._clock()
            due = self.schedule.due(now, early=self._early)
            period = due.period_start
            previous = self._runs.get(period)
            if previous is None and not due.within_grace:
                await self._log_missed(due)
                return None
            if previous is not None and (not previous.retry_users or not due.within_grace):
                return None
            users = previous.retry_users if previous is not None else None
            log.info("weekly digest for %s: %s run, %s late", week_label(period), reason,
                     max(due.late, timedelta(0)))  # fmt: skip
            report = await self.runner.run(period, users=users)
            self._runs[period] = report
            for old in sorted(self._runs)[:-4]:
                del self._runs[old]
            return report

    async def _log_missed(self, due: Due) -> None:
        if due.period_start in self._missed:
            return
        self._missed.add(due.period_start)
        async with self.runner.database.session() as session:
            handled = await session.scalar(
                select(func.count())
                .select_from(DigestLog)
                .where(DigestLog.period_start == due.period_start)
            )
        week = week_label(due.period_start)
        if handled:
            log.info("weekly digest for %s: handled by another run (%d logged)", week, handled)
            return
        log.warning(
            "weekly digest for %s was due at %s, %s ago: more than [digest] grace_hours = %s, "
            "so it is not sent. The next digest goes out at %s.",
            week, due.scheduled_at.isoformat(), due.late, self.schedule.settings.grace_hours,
            self.schedule.trigger.get_next_fire_time(None, due.scheduled_at + due.late),
        )  # fmt: skip
