"""The digest through the real Slack and Discord messengers, to their fake Web APIs.

The runner sends with the adapters' own :class:`~bot.messenger.Messenger`; the fakes
record the DM, its text and the uploaded chart.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.digest.runner import DigestRunner
from byok.db import Database
from byok.db.tables import DigestLog
from byok.types import UserRef
from byok.vault import Keyring
from tests.digest.conftest import PERIOD, Clock, Seeder, Use, berlin, d, settings
from tests.discord.conftest import (  # noqa: F401 - fixtures
    DiscordRig,
    discord,
    discord_api,
    make_discord,
    user_ref,
)
from tests.fakes.fake_discord import parse_body
from tests.slack.conftest import SlackRig, fake_slack, make_slack, slack  # noqa: F401

pytestmark = pytest.mark.slow  # whole digest rounds, a chart drawn for each user: seconds a test

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHART = "byok-usage-2026-11-16.png"


async def seed_week(database: Database, keyring: Keyring, user: UserRef) -> None:
    await Seeder(database, keyring).usage(
        Use(user, "openai", "gpt-5", berlin(17, 10), d("0.25"), tokens_in=2000, tokens_out=300),
        Use(user, "anthropic", "claude-sonnet-4-6", berlin(19, 16), d("0.5"), tokens_in=900, tokens_out=700),
        Use(user, "openai", "gpt-5", berlin(10, 10), d("0.5")),  # the week before
    )  # fmt: skip


async def statuses(database: Database) -> list[tuple[str, int]]:
    async with database.session() as session:
        rows = await session.execute(
            select(DigestLog.status, DigestLog.attempts).where(DigestLog.period_start == PERIOD)
        )
        return [(status, attempts) for status, attempts in rows]


async def test_a_digest_with_its_chart_reaches_slack(
    slack: SlackRig,  # noqa: F811 - the fixture
    keyring: Keyring,
    clock: Clock,
) -> None:
    database = slack.rig.engine.database
    alice = UserRef("slack", "T111", "U111")
    await seed_week(database, keyring, alice)
    slack.fake.fail("chat.postMessage", "ratelimited")  # the first try is refused
    runner = DigestRunner(database, settings(), [slack.adapter.messenger], clock=clock)
    first = await runner.run(PERIOD)
    assert first.failed == [alice] and await statuses(database) == [("failed", 1)]
    clock.now += timedelta(minutes=15)
    second = await runner.run(PERIOD, users=first.retry_users)
    assert second.sent == [alice] and await statuses(database) == [("sent", 2)]
    [text] = slack.fake.texts("D111")
    assert "Your week with byok-bot: Mon 16 – Sun 22 Nov 2026" in text
    assert "2 requests · 2,900 in / 1,000 out tokens · $0.75." in text
    [ticket] = slack.fake.calls_to("files.getUploadURLExternal")
    assert ticket.args["filename"] == CHART
    [chart] = slack.fake.uploads.values()
    assert chart.startswith(PNG_SIGNATURE) and len(chart) > 10_000
    [complete] = slack.fake.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == "D111"
    assert complete.args["files"][0]["title"] == "Daily cost by provider, last 5 weeks"
    # Later runs find it sent: nothing more reaches Slack.
    assert (await runner.run(PERIOD)).sent == []
    assert len(slack.fake.calls_to("conversations.open")) == 2


async def test_a_digest_whose_chart_upload_fails_is_not_sent_again(
    slack: SlackRig,  # noqa: F811 - the fixture
    keyring: Keyring,
    clock: Clock,
) -> None:
    database = slack.rig.engine.database
    alice = UserRef("slack", "T111", "U111")
    await seed_week(database, keyring, alice)
    slack.fake.fail("files.getUploadURLExternal", "service_unavailable")  # after the text
    runner = DigestRunner(database, settings(), [slack.adapter.messenger], clock=clock)
    first = await runner.run(PERIOD)
    assert first.sent == [alice] and await statuses(database) == [("sent", 1)]
    clock.now += timedelta(minutes=16)
    assert (await runner.run(PERIOD)).sent == []
    [text] = slack.fake.texts("D111")  # the text went out once, and only once
    assert "Your week with byok-bot" in text


async def test_a_digest_with_its_chart_reaches_discord(
    discord: DiscordRig,  # noqa: F811 - the fixture
    keyring: Keyring,
    clock: Clock,
) -> None:
    database = discord.engine.engine.database
    bob = user_ref()
    await seed_week(database, keyring, bob)
    runner = DigestRunner(database, settings(), [discord.adapter.messenger], clock=clock)
    report = await runner.run(PERIOD)
    assert report.sent == [bob] and await statuses(database) == [("sent", 1)]
    channel = discord.fake.dm_channels[bob.user]
    [sent] = discord.fake.requests_to(f"/channels/{channel}/messages", "POST")
    payload, files = parse_body(sent)
    assert payload["embeds"][0]["title"] == "Your week with byok-bot: Mon 16 – Sun 22 Nov 2026"
    [(name, chart)] = files
    assert name == CHART and chart.startswith(PNG_SIGNATURE) and len(chart) > 10_000
    assert (await runner.run(PERIOD)).sent == []
    assert len(discord.fake.requests_to(f"/channels/{channel}/messages", "POST")) == 1
