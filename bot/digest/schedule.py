"""When the weekly digest is due: ``[digest]`` day, time and timezone as a cron trigger,
and which week each send covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.config import DigestSettings

__all__ = ["DigestSchedule", "Due"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Due:
    """The latest scheduled send at some moment, the week it covers, and how late we are."""

    scheduled_at: datetime
    period_start: date
    late: timedelta
    within_grace: bool


class DigestSchedule:
    """``[digest]`` day, time and timezone: the cron trigger and the week each send covers.

    A send covers the seven local days that ended at the last local midnight of the
    send's day: a Monday 09:00 send covers Monday to Sunday of the week before.
    """

    def __init__(self, settings: DigestSettings) -> None:
        self.timezone = ZoneInfo(settings.timezone)  # a known zone: checked with the config
        hour, minute = (int(part) for part in settings.time.split(":"))
        self.settings = settings
        self.grace = timedelta(hours=settings.grace_hours)
        self.trigger = CronTrigger(
            day_of_week=settings.day, hour=hour, minute=minute, timezone=self.timezone
        )
        self._weekday = _DAYS.index(settings.day)

    def describe(self) -> str:
        return f"every {self.settings.day} at {self.settings.time} {self.timezone.key}"

    def latest_send(self, now: datetime) -> datetime:
        """The last scheduled send at or before ``now`` (asked of the trigger itself)."""
        latest = self.trigger.get_next_fire_time(None, now - timedelta(days=8))
        while True:
            following = self.trigger.get_next_fire_time(latest, latest)
            if following is None or following > now:
                return latest  # type: ignore[no-any-return]
            latest = following

    def period_ending_by(self, when: datetime) -> date:
        """The first day of the latest full digest week that ended by ``when``."""
        local = when.astimezone(self.timezone)
        end = local.date() - timedelta(days=(local.weekday() - self._weekday) % 7)
        return end - timedelta(days=7)

    def due(self, now: datetime, *, early: timedelta = timedelta(0)) -> Due:
        """What is due at ``now``; a send up to ``early`` ahead counts as due already."""
        scheduled = self.latest_send(now + early)
        late = now - scheduled
        return Due(scheduled, self.period_ending_by(scheduled), late, late <= self.grace)
