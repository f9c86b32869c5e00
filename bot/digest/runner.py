"""Sending one week's digests: claim in ``digest_log``, send by DM, mark sent or failed.

The protocol that makes a digest go out at most once per user and week, across
restarts and instances sharing a database:

1. **Claim** before sending: ``INSERT ... ON CONFLICT DO NOTHING`` on the unique
   (user_ref, period_start) pair; exactly one process inserts the row. A row left
   ``failed``, or ``claimed`` by an instance that crashed (older than
   ``claim_timeout``), is re-claimed by an ``UPDATE ... WHERE`` on that state, which
   again only one process can win. ``attempts`` counts claims (the first is 1).
2. **Send** through the user's platform :class:`~bot.messenger.Messenger`.
3. **Mark** ``sent``; on a retryable :class:`~bot.messenger.DeliveryError` mark
   ``failed`` with a short error (no secrets), which the next run retries until
   ``max_attempts``; a non-retryable one (DMs closed, user gone) is ``undeliverable``.

Once the platform has accepted a DM, the mark ``sent`` is always written: a cancel
arriving meanwhile (a stop at the end of the grace period) waits for it, and a send that
outlived its own claim (another run took it over after ``claim_timeout``) is still
marked ``sent``, with a warning, so no later run sends it again. A stopping bot
(:meth:`DigestRunner.stop_after_current`) finishes the user in progress and leaves the
rest unclaimed for the next run.

What remains, and cannot be closed from here:

- A process killed outright (SIGKILL, power loss) after the platform accepted a DM but
  before the mark leaves a claim that is retried after ``claim_timeout``: that user
  gets the digest twice. The same holds for a send the platform has not answered when
  the grace period runs out and is cancelled, and for a mark the database refuses.
- A send slower than ``claim_timeout`` lets another run take the claim over and send too.
- A messenger error raised after the platform took the DM (an adapter bug) is retried
  like any failure. Messengers must not report a partly sent DM as retryable (Slack's
  counts one as delivered).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Collection, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.config import DigestSettings
from bot.digest.message import build_digest, week_label
from bot.digest.schedule import DigestSchedule
from bot.grammar import CommandError
from bot.incidents import record_incident
from bot.messenger import DeliveryError, Messenger
from bot.provider_names import ProviderNames
from byok.clock import Clock, utc_now
from byok.db.database import Database
from byok.db.tables import DigestLog
from byok.digest_data import DigestWindow, UserDigestData, load_digest_data
from byok.preferences import PreferenceStore
from byok.secret import redact
from byok.types import UserRef
from byok.users import get_user_id

__all__ = [
    "DigestRunner",
    "RunReport",
    "default_instance_name",
    "dry_run",
    "parse_user_ref",
    "send_now",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_DONE = ("sent", "undeliverable")


def default_instance_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(slots=True)
class RunReport:
    """What one run did for one week."""

    period_start: date
    sent: list[UserRef] = field(default_factory=list)
    failed: list[UserRef] = field(default_factory=list)
    undeliverable: list[UserRef] = field(default_factory=list)
    already_done: int = 0  # sent, undeliverable or given up earlier
    busy: int = 0  # claimed right now by another run
    no_messenger: int = 0  # on a platform this process cannot reach
    stopped: int = 0  # left unclaimed because the bot is stopping
    retry_users: set[int] = field(default_factory=set)  # user rows worth another run

    def summary(self) -> str:
        """``Weekly digest for Mon 16 – Sun 22 Nov 2026: 3 sent, 1 already done``."""
        parts = [f"{len(self.sent)} sent"]
        for count, what in (
            (len(self.failed), "failed (will be retried)"),
            (len(self.undeliverable), "undeliverable"),
            (self.stopped, "left for the next run (stopping)"),
            (self.already_done, "already done"),
            (self.busy, "being sent by another instance"),
            (self.no_messenger, "on a platform not connected here"),
        ):
            if count:
                parts.append(f"{count} {what}")
        return f"Weekly digest for {week_label(self.period_start)}: {', '.join(parts)}"


def short_error(exc: BaseException) -> str:
    """For ``digest_log.last_error``: the platform's reason, redacted and short."""
    if isinstance(exc, DeliveryError):
        return redact(f"DeliveryError: {exc}")[:200]
    return type(exc).__name__  # an unexpected error's text may hold anything


class DigestRunner:
    """Sends the digests of one week to everyone due one, safely against other runners."""

    def __init__(
        self,
        database: Database,
        settings: DigestSettings,
        messengers: Iterable[Messenger],
        *,
        instance: str | None = None,
        clock: Clock = utc_now,
        claim_timeout: timedelta = timedelta(minutes=15),
        max_attempts: int = 5,
        batch_size: int = 200,
        names: ProviderNames | None = None,
    ) -> None:
        self.database = database
        # How the digests name providers; the built-in names when not given.
        self.names = names or ProviderNames.builtin()
        self.settings = settings
        self.schedule = DigestSchedule(settings)
        self.messengers = {m.platform: m for m in messengers}
        # Unique per runner, so two runners in one process never mistake each other's claims.
        self.claimant = f"{(instance or default_instance_name())[:56]}/{secrets.token_hex(3)}"
        self._clock = clock
        self._claim_timeout = claim_timeout
        self._max_attempts = max_attempts
        self._batch = batch_size
        self._stopping = False

    def stop_after_current(self) -> None:
        """Claim no one else: the user being sent to is finished, the rest left unclaimed."""
        self._stopping = True

    def window(self, period_start: date, as_of: datetime | None = None) -> DigestWindow:
        return DigestWindow(
            period_start, self.schedule.timezone, self.settings.chart_weeks, as_of or self._clock()
        )

    async def run(self, period_start: date, *, users: Collection[int] | None = None) -> RunReport:
        """Send the week starting ``period_start`` to everyone due it (or only ``users``)."""
        window = self.window(period_start)
        report = RunReport(period_start)
        recipients = await load_digest_data(self.database, window, users=users)
        ordered = [recipients[ref] for ref in sorted(recipients)]
        for at in range(0, len(ordered), self._batch):
            if self._stopping:
                report.stopped += len(ordered) - at
                break
            await self._batch_run(window, ordered[at : at + self._batch], report)
        log.info("%s", report.summary())
        return report

    async def _batch_run(
        self, window: DigestWindow, batch: list[UserDigestData], report: RunReport
    ) -> None:
        reachable = [d for d in batch if d.user.platform in self.messengers]
        report.no_messenger += len(batch) - len(reachable)
        states = await self.states(window.period_start, [d.user_ref for d in reachable])
        todo = []
        for data in reachable:
            state = self.classify(states.get(data.user_ref))
            if state == "done":
                report.already_done += 1
            elif state == "busy":
                report.busy += 1
                report.retry_users.add(data.user_ref)
            else:
                todo.append(data)
        for index, data in enumerate(todo):
            if self._stopping:
                report.stopped += len(todo) - index
                return
            await self._deliver(window, data, report)

    def classify(self, state: tuple[str, int, datetime] | None) -> str:
        """``todo`` (claim and send), ``busy`` (another run has it) or ``done``."""
        if state is None:
            return "todo"
        status, attempts, claimed_at = state
        if status in _DONE or (status == "failed" and attempts >= self._max_attempts):
            return "done"
        if status == "claimed" and claimed_at > self._clock() - self._claim_timeout:
            return "busy"
        return "todo"

    async def _deliver(self, window: DigestWindow, data: UserDigestData, report: RunReport) -> None:
        if not await self.claim(data.user_ref, window.period_start):
            report.busy += 1
            report.retry_users.add(data.user_ref)
            return
        try:
            reply = await build_digest(data, window, self.names)
            await self.messengers[data.user.platform].send_dm(data.user, reply)
        except DeliveryError as exc:
            status = "failed" if exc.retryable else "undeliverable"
            await _to_the_end(
                self._mark(data.user_ref, window.period_start, status, short_error(exc))
            )
            (report.failed if exc.retryable else report.undeliverable).append(data.user)
            if exc.retryable:
                report.retry_users.add(data.user_ref)
            log.warning("weekly digest to %s %s: %s", data.user, status, short_error(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one user's digest must not stop the rest; logged
            incident = record_incident(log, f"weekly digest to {data.user}", exc)
            await self._mark(
                data.user_ref,
                window.period_start,
                "failed",
                f"{short_error(exc)} (ref {incident.ref})",
            )
            report.failed.append(data.user)
            report.retry_users.add(data.user_ref)
            return
        # The DM is out: a cancel now waits for the mark, or the claim would go stale and
        # the digest would be sent again.
        await _to_the_end(self._mark_sent(data, window.period_start))
        report.sent.append(data.user)

    async def _mark_sent(self, data: UserDigestData, period_start: date) -> None:
        if await self._mark(data.user_ref, period_start, "sent", None):
            return
        # Our claim expired during the send and another run took it over: whatever that
        # run does, this DM is out, so no run may send it again.
        async with self.database.session() as session:
            found = await session.execute(
                select(DigestLog.status, DigestLog.claimed_by).where(
                    DigestLog.user_ref == data.user_ref, DigestLog.period_start == period_start
                )
            )
            status, holder = found.one()
            await session.execute(
                update(DigestLog)
                .where(DigestLog.user_ref == data.user_ref,
                       DigestLog.period_start == period_start, DigestLog.status != "sent")
                .values(status="sent", sent_at=self._clock(), last_error=None)
            )  # fmt: skip
        log.warning(
            "weekly digest to %s: sent, but our claim had expired and %s had it (%s); "
            "marked sent so that no run sends it again",
            data.user,
            holder,
            status,
        )

    async def states(
        self, period_start: date, user_refs: Collection[int]
    ) -> dict[int, tuple[str, int, datetime]]:
        """``digest_log`` state (status, attempts, claimed_at) of these users for the week."""
        found: dict[int, tuple[str, int, datetime]] = {}
        ordered = sorted(user_refs)
        async with self.database.session() as session:
            for at in range(0, len(ordered), 1000):
                rows = await session.execute(
                    select(DigestLog.user_ref, DigestLog.status, DigestLog.attempts,
                           DigestLog.claimed_at)
                    .where(DigestLog.period_start == period_start,
                           DigestLog.user_ref.in_(ordered[at : at + 1000]))
                )  # fmt: skip
                found.update(
                    {ref: (status, tries, claimed) for ref, status, tries, claimed in rows}
                )
        return found

    async def claim(self, user_ref: int, period_start: date) -> bool:
        """Take the (user, week) digest for this runner; True for exactly one claimant."""
        now = self._clock()
        insert = pg_insert if self.database.dialect == "postgresql" else sqlite_insert
        async with self.database.session() as session:
            inserted = await session.execute(
                insert(DigestLog)
                .values(user_ref=user_ref, period_start=period_start, status="claimed",
                        claimed_by=self.claimant, claimed_at=now, attempts=1)
                .on_conflict_do_nothing(index_elements=["user_ref", "period_start"])
            )  # fmt: skip
            if inserted.rowcount:  # type: ignore[attr-defined]
                return True
            retried = await session.execute(
                update(DigestLog)
                .where(
                    DigestLog.user_ref == user_ref,
                    DigestLog.period_start == period_start,
                    or_(
                        and_(DigestLog.status == "failed", DigestLog.attempts < self._max_attempts),
                        and_(DigestLog.status == "claimed",
                             DigestLog.claimed_at < now - self._claim_timeout),
                    ),
                )
                .values(status="claimed", claimed_by=self.claimant, claimed_at=now,
                        attempts=DigestLog.attempts + 1)
            )  # fmt: skip
            return bool(retried.rowcount)  # type: ignore[attr-defined]

    async def _mark(
        self, user_ref: int, period_start: date, status: str, error: str | None
    ) -> bool:
        values: dict[str, object] = {"status": status, "last_error": error}
        if status == "sent":
            values["sent_at"] = self._clock()
        async with self.database.session() as session:
            result = await session.execute(
                update(DigestLog)
                .where(
                    DigestLog.user_ref == user_ref,
                    DigestLog.period_start == period_start,
                    DigestLog.status == "claimed",
                    DigestLog.claimed_by == self.claimant,
                )
                .values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


async def _to_the_end(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` to its end even if we are cancelled meanwhile; then re-raise the cancel."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result


def parse_user_ref(text: str) -> UserRef:
    """``platform:workspace:user`` (as in ``--user slack:T0123:U0456``)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise CommandError(
            f"--user {text!r}: write it as platform:workspace:user, e.g. slack:T0123ABCD:U0456EFGH"
        )
    return UserRef(*parts)


async def send_now(
    database: Database,
    settings: DigestSettings,
    messengers: Iterable[Messenger],
    *,
    instance: str | None = None,
    now: datetime | None = None,
    names: ProviderNames | None = None,
) -> RunReport:
    """Send the digest of the latest full week now (``byok-bot digest --send-now``).

    Safe beside running bots: whoever claims a user's week first sends it, once.
    """
    clock: Clock = (lambda: now) if now is not None else utc_now
    runner = DigestRunner(
        database, settings, messengers, instance=instance, clock=clock, names=names
    )
    return await runner.run(runner.schedule.period_ending_by(clock()))


async def dry_run(
    database: Database,
    settings: DigestSettings,
    *,
    user: UserRef | str | None = None,
    now: datetime | None = None,
    charts_dir: Path | None = None,
    names: ProviderNames | None = None,
) -> str:
    """Exactly what ``--send-now`` would send now, as text; nothing is sent or claimed.

    With ``user`` only that user's digest, or why they get none. ``charts_dir`` also
    saves each chart PNG there.
    """
    as_of = now or utc_now()
    runner = DigestRunner(database, settings, [], clock=lambda: as_of, names=names)
    period = runner.schedule.period_ending_by(as_of)
    window = runner.window(period, as_of)
    ref = parse_user_ref(user) if isinstance(user, str) else user
    user_ids = None
    if ref is not None:
        async with database.session() as session:
            found = await get_user_id(session, ref)
        if found is None:
            return f"{ref} has never used the bot: no digest."
        user_ids = [found]
    recipients = await load_digest_data(database, window, users=user_ids)
    lines = [
        f"Weekly digest for {week_label(period)} ({window.timezone.key}), as of "
        f"{as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC; scheduled {runner.schedule.describe()}.",
    ]
    if ref is not None and not recipients:
        prefs = await PreferenceStore(database).get(ref)
        why = ("they turned it off (`/byok prefs digest on` turns it back on)"
               if not prefs.weekly_digest else
               "no requests that week and empty digests are off (`/byok prefs empty-digest on`)")  # fmt: skip
        return "\n".join([*lines, f"No digest for {ref}: {why}."])
    states = await runner.states(period, list(recipients))
    lines.append(f"{len(recipients)} digest(s).")
    if not recipients:
        lines.append(
            "No one is due one: no user with the digest on made a request that week, and "
            "no one asked for empty digests (`/byok prefs empty-digest on`)."
        )
    for user_ref in sorted(recipients):
        data = recipients[user_ref]
        reply = await build_digest(data, window, runner.names)
        lines += [
            "",
            f"=== {data.user} — {_state_text(states.get(user_ref), runner)} ===",
            reply.plain_text(),
        ]
        for file in reply.files:
            lines.append(
                f"[attachment {file.filename}: {file.mime}, {len(file.content):,} bytes — {file.title}]"
            )
            if charts_dir is not None:
                name = (
                    f"{data.user.platform}-{data.user.workspace}-{data.user.user}-{file.filename}"
                )
                await asyncio.to_thread(_save, charts_dir / name, file.content)
    return "\n".join(lines)


def _save(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _state_text(state: tuple[str, int, datetime] | None, runner: DigestRunner) -> str:
    if state is None:
        return "would be sent"
    status, attempts, claimed_at = state
    verdict = runner.classify(state)
    if status == "sent":
        return "already sent, not sent again"
    if verdict == "busy":
        return f"being sent by another run (claimed {claimed_at:%Y-%m-%d %H:%M} UTC)"
    if verdict == "done":
        return f"not sent: {status} after {attempts} attempt(s)"
    return f"would be sent again ({status}, {attempts} attempt(s) so far)"
