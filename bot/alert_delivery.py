"""Spend alerts by DM, at once: a key crossed 80% or 100% of its monthly limit.

The engine decides *when* (``byok.alerts`` claims each notice once per key, month
and threshold, across instances) and hands the notices back on ``Answer.notices``
and ``SpendLimitError.notices``. This module only delivers them: one DM each,
through the user's platform :class:`~bot.messenger.Messenger`, and records the
outcome in ``alert_log`` (``sent`` or ``failed``). A failed DM is logged and not
retried: the notice was also shown in the reply to the request that crossed the
threshold, and a late "80% used" is noise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import update

from bot.formatting import money
from bot.messenger import DeliveryError, Messenger
from bot.provider_names import ProviderNames
from bot.reply import Field, Reply, Section
from byok.alerts import QuotaNotice
from byok.clock import Clock, utc_now
from byok.db.database import Database
from byok.db.tables import AlertLog
from byok.errors import AllProvidersFailedError, SpendLimitError
from byok.secret import redact
from byok.types import UserRef
from byok.usage import month_bounds
from byok.users import get_user_id

__all__ = [
    "AlertDelivery",
    "deliver_quota_notices",
    "notice_reply",
    "notice_text",
    "refusal_notices",
    "spending_section",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AlertDelivery:
    """What happened to each notice."""

    sent: list[QuotaNotice] = field(default_factory=list)
    failed: list[QuotaNotice] = field(default_factory=list)


def notice_text(notice: QuotaNotice, names: ProviderNames) -> str:
    """What the notice says, naming the provider as people know it (the command keeps its id)."""
    name, pid = names.label(notice.provider_id), notice.provider_id
    spent = f"{money(notice.spent)} of {money(notice.limit)}"
    whose = "the shared operator allowance" if notice.operator_key else "your monthly limit"
    raise_it = f"unless you raise it with `/byok limit {pid} <usd>`."
    if notice.threshold >= 100 and notice.spent < notice.limit:
        left = money(notice.limit - notice.spent)
        return (
            f"You have nearly used all of {whose} for {name} ({spent}): requests that could "
            f"cost more than the {left} left are refused until next month {raise_it}"
        )
    if notice.threshold >= 100:
        return (
            f"You have used all of {whose} for {name} ({spent}). Requests to {name} are "
            f"paused until next month {raise_it}"
        )
    budget = f"the shared {name} allowance" if notice.operator_key else f"your {name} limit"
    return f"You have used {notice.percent}% ({spent}) of {budget} this month."


def notice_reply(notice: QuotaNotice, names: ProviderNames) -> Reply:
    """One notice as a DM: what it says, plus the numbers as fields."""
    name = names.label(notice.provider_id)
    reached = notice.threshold >= 100
    title = (
        f"{name}: monthly limit reached"
        if reached
        else f"{name}: {notice.percent}% of your monthly limit used"
    )
    if notice.operator_key:
        title = f"{name}: {notice.percent}% of the shared allowance used"
    return Reply(
        title=title,
        text=notice_text(notice, names),
        sections=(
            Section(
                fields=(
                    Field("Spent this month", money(notice.spent)),
                    Field("Monthly limit", money(notice.limit)),
                )
            ),
        ),
        footer="Spend alert · turn these off with `/byok prefs quota-notices off`",
        tone="error" if reached else "warning",
        private=True,
    )


def refusal_notices(exc: BaseException) -> tuple[QuotaNotice, ...]:
    """The notices a refused request brought due: a spend limit's own, or those of the
    spend limits that refused every provider of a fallback chain."""
    if isinstance(exc, SpendLimitError):
        return tuple(n for n in exc.notices if isinstance(n, QuotaNotice))
    if isinstance(exc, AllProvidersFailedError):
        return tuple(n for a in exc.attempts for n in refusal_notices(a.error))
    return ()


def spending_section(notices: Iterable[object], names: ProviderNames) -> Section | None:
    """The notices as a reply shows them, under the request that brought them due."""
    texts = tuple(notice_text(n, names) for n in notices if isinstance(n, QuotaNotice))
    return Section(title="Spending", bullets=texts) if texts else None


async def deliver_quota_notices(
    messenger: Messenger,
    user: UserRef,
    notices: Iterable[object],
    *,
    names: ProviderNames | None = None,
    database: Database | None = None,
    clock: Clock = utc_now,
) -> AlertDelivery:
    """DM ``user`` each notice now; with ``database``, mark each ``alert_log`` row.

    ``notices`` takes ``Answer.notices`` or ``SpendLimitError.notices`` as they are
    (the latter is typed loosely in ``byok.errors``); anything else is ignored.
    ``names`` names the providers (the built-in names when not given).
    Never raises for a delivery problem: the request that caused it goes on.
    """
    names = names or ProviderNames.builtin()
    outcome = AlertDelivery()
    for notice in notices:
        if not isinstance(notice, QuotaNotice):
            continue
        try:
            await messenger.send_dm(user, notice_reply(notice, names))
        except DeliveryError as exc:
            log.warning("spend alert to %s (%s %d%%) not delivered: %s",
                        user, notice.provider_id, notice.threshold, redact(str(exc)))  # fmt: skip
            outcome.failed.append(notice)
        else:
            outcome.sent.append(notice)
    if database is not None and (outcome.sent or outcome.failed):
        await _record(database, user, outcome, clock)
    return outcome


async def _record(database: Database, user: UserRef, outcome: AlertDelivery, clock: Clock) -> None:
    now = clock()
    # Notices are claimed for the month in which the request ran: now, give or take seconds.
    month = month_bounds(now)[0].date()
    async with database.session() as session:
        user_ref = await get_user_id(session, user)
        if user_ref is None:
            return
        for status, notices in (("sent", outcome.sent), ("failed", outcome.failed)):
            for notice in notices:
                provider = (
                    f"operator:{notice.provider_id}" if notice.operator_key else notice.provider_id
                )
                await session.execute(
                    update(AlertLog)
                    .where(
                        AlertLog.user_ref == user_ref,
                        AlertLog.provider == provider,
                        AlertLog.month == month,
                        AlertLog.threshold == notice.threshold,
                    )
                    .values(status=status, sent_at=now if status == "sent" else None)
                )
