"""Spend alerts: the notices a real engine returns go out at once, one DM each."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.alert_delivery import deliver_quota_notices, notice_reply, notice_text
from bot.messenger import DeliveryError
from bot.provider_names import ProviderNames
from byok.alerts import QuotaNotice
from byok.db.tables import AlertLog
from byok.errors import SpendLimitError
from byok.pricing import price_of
from byok.types import Usage
from tests.digest.conftest import RecordingMessenger
from tests.engine.conftest import ALICE, Rig

QUESTION = [{"role": "user", "content": "Name three prime numbers."}]
NAMES = ProviderNames.builtin()


async def alert_rows(rig: Rig) -> list[tuple[str, int, str, bool]]:
    async with rig.engine.database.session() as session:
        rows = await session.scalars(select(AlertLog).order_by(AlertLog.threshold))
        return [(r.provider, r.threshold, r.status, r.sent_at is not None) for r in rows]


async def test_crossing_80_then_100_percent_sends_two_dms(rig: Rig) -> None:
    one = price_of("openai", "gpt-5.6-terra", Usage(input_tokens=11, output_tokens=100))
    assert one is not None
    await rig.add_key("openai", limit=str(one * Decimal("2.2")))  # 45%, then 91%
    for _ in range(3):
        rig.fakes["openai"].reply(text="ok", input_tokens=11, output_tokens=100)
    slack = RecordingMessenger("slack")
    first = await rig.service().chat(QUESTION, max_tokens=100)
    assert (await deliver_quota_notices(slack, ALICE, first.notices)).sent == []
    second = await rig.service().chat(QUESTION, max_tokens=100)
    outcome = await deliver_quota_notices(
        slack, ALICE, second.notices, database=rig.engine.database, clock=rig.clock
    )
    assert [n.threshold for n in outcome.sent] == [80]
    [(to, dm)] = slack.sent
    assert to == ALICE and dm.private and dm.tone == "warning"
    # Without the deployment's names the built-in ones are used.
    assert dm.title == "OpenAI: 91% of your monthly limit used"
    assert dm.text == notice_text(second.notices[0], ProviderNames.builtin())
    await rig.service().set_monthly_limit("openai", one)
    with pytest.raises(SpendLimitError) as refused:
        await rig.service().chat(QUESTION, max_tokens=100)
    await deliver_quota_notices(
        slack, ALICE, refused.value.notices, database=rig.engine.database, clock=rig.clock
    )
    assert [reply.title for _, reply in slack.sent] == [
        "OpenAI: 91% of your monthly limit used",
        "OpenAI: monthly limit reached",
    ]
    assert slack.sent[1][1].tone == "error"
    assert await alert_rows(rig) == [("openai", 80, "sent", True), ("openai", 100, "sent", True)]


async def test_a_refused_dm_is_recorded_and_never_raised(rig: Rig) -> None:
    one = price_of("openai", "gpt-5.6-terra", Usage(input_tokens=11, output_tokens=100))
    assert one is not None
    await rig.add_key("openai", limit=str(one * Decimal("1.2")))  # one request is 83%
    rig.fakes["openai"].reply(text="ok", input_tokens=11, output_tokens=100)
    answer = await rig.service().chat(QUESTION, max_tokens=100)
    assert [n.threshold for n in answer.notices] == [80]
    slack = RecordingMessenger("slack")
    slack.failures[ALICE] = [DeliveryError("cannot_dm_bot", retryable=False)]
    outcome = await deliver_quota_notices(
        slack, ALICE, answer.notices, database=rig.engine.database, clock=rig.clock
    )
    assert [n.threshold for n in outcome.failed] == [80] and outcome.sent == []
    assert slack.sent == []
    assert await alert_rows(rig) == [("openai", 80, "failed", False)]
    # Other things on the notices tuple (it is loosely typed on SpendLimitError) are skipped.
    assert (await deliver_quota_notices(slack, ALICE, ["not a notice"])).sent == []


def test_the_dm_shows_the_numbers() -> None:
    reply = notice_reply(QuotaNotice("anthropic", 80, Decimal("8.1"), Decimal("10")), NAMES)
    assert [(f.label, f.value) for f in reply.sections[0].fields] == [
        ("Spent this month", "$8.10"),
        ("Monthly limit", "$10.00"),
    ]
    shared = notice_reply(
        QuotaNotice("openai", 100, Decimal("5"), Decimal("5"), operator_key=True), NAMES
    )
    assert shared.title == "OpenAI: 100% of the shared allowance used"


def test_a_notice_says_the_figure_reached_not_the_threshold_crossed() -> None:
    at_91 = QuotaNotice("openai", 80, Decimal("9.10"), Decimal("10"))
    assert (
        notice_text(at_91, NAMES)
        == "You have used 91% ($9.10 of $10.00) of your OpenAI limit this month."
    )
    assert notice_reply(at_91, NAMES).title == "OpenAI: 91% of your monthly limit used"
    shared = QuotaNotice("xai", 80, Decimal("4.43"), Decimal("5"), operator_key=True)
    assert (
        notice_text(shared, NAMES)
        == "You have used 89% ($4.43 of $5.00) of the shared xAI Grok allowance this month."
    )
    assert notice_reply(shared, NAMES).title == "xAI Grok: 89% of the shared allowance used"
    nearly = QuotaNotice("openai", 80, Decimal("9.996"), Decimal("10"))
    assert nearly.percent == 99  # never "100%" while some of the limit is left
    assert QuotaNotice("openai", 80, Decimal("8.004"), Decimal("10")).percent == 80


def test_a_notice_names_the_provider_and_keeps_its_id_in_the_command() -> None:
    names = ProviderNames({"local": "Office Llama"})
    full = QuotaNotice("local", 100, Decimal("10"), Decimal("10"))
    assert notice_text(full, names) == (
        "You have used all of your monthly limit for Office Llama ($10.00 of $10.00). "
        "Requests to Office Llama are paused until next month unless you raise it with "
        "`/byok limit local <usd>`."
    )
    assert notice_reply(full, names).title == "Office Llama: monthly limit reached"
    # A provider no longer configured (old rows) is named by its id.
    assert notice_reply(QuotaNotice("gone", 100, Decimal(1), Decimal(1)), names).title == (
        "gone: monthly limit reached"
    )
