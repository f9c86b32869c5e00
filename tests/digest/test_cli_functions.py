"""``digest --dry-run`` shows exactly what ``--send-now`` sends, and claims nothing."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.digest.message import build_digest
from bot.digest.runner import dry_run, parse_user_ref, send_now
from bot.grammar import CommandError
from bot.provider_names import ProviderNames
from byok.db import Database
from byok.db.tables import DigestLog
from byok.digest_data import DigestWindow, load_daily_costs, load_digest_data
from byok.types import UserRef
from tests.digest.conftest import (
    ALICE,
    BERLIN,
    BOB,
    CAROL,
    CHART_WEEKS,
    DAVE,
    ERIN,
    PERIOD,
    SEND_AT,
    Seeder,
    messengers,
    settings,
)

pytestmark = pytest.mark.slow  # whole digest rounds, a chart drawn for each user: seconds a test

NOW = SEND_AT + timedelta(hours=30)  # any time in the week after: the same period


async def claims(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(DigestLog)) or 0)


async def test_dry_run_prints_every_digest_and_sends_nothing(
    database: Database, seeder: Seeder, tmp_path: Path
) -> None:
    text = await dry_run(database, settings(), now=NOW, charts_dir=tmp_path / "charts")
    assert text.startswith(
        "Weekly digest for Mon 16 – Sun 22 Nov 2026 (Europe/Berlin), as of 2026-11-24 14:00 UTC; "
        "scheduled every mon at 09:00 Europe/Berlin.\n3 digest(s)."
    )
    for user in (ALICE, BOB, DAVE):
        assert f"=== {user} — would be sent ===" in text
    for user in (CAROL, ERIN):
        assert str(user) not in text
    assert "OpenAI — 8 requests, $0.362 + 2 requests of unknown cost" in text
    assert text.count("[attachment byok-usage-2026-11-16.png: image/png, ") == 2
    saved = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert saved == [
        "discord-G2-U2-byok-usage-2026-11-16.png",
        "slack-T1-U1-byok-usage-2026-11-16.png",
    ]
    assert await claims(database) == 0


async def test_dry_run_for_one_user_is_exactly_the_dm_send_now_sends(
    database: Database, seeder: Seeder
) -> None:
    text = await dry_run(database, settings(), user="slack:T1:U1", now=NOW)
    slack, discord = messengers()
    report = await send_now(database, settings(), [slack, discord], instance="cli", now=NOW)
    assert sorted(map(str, report.sent)) == sorted(map(str, [ALICE, BOB, DAVE]))
    [dm] = slack.to(ALICE)
    assert f"=== {ALICE} — would be sent ===\n{dm.plain_text()}\n[attachment " in text
    # Month to date is as of the moment it runs; the week's numbers are fixed.
    window = DigestWindow(PERIOD, BERLIN, CHART_WEEKS, NOW)
    data = (await load_digest_data(database, window, users=[seeder.ids[ALICE]]))[seeder.ids[ALICE]]
    data.daily = (await load_daily_costs(database, window, [seeder.ids[ALICE]]))[seeder.ids[ALICE]]
    assert (
        dm.plain_text() == (await build_digest(data, window, ProviderNames.builtin())).plain_text()
    )
    assert await claims(database) == 3
    # Afterwards the dry run says so, and a second --send-now sends nothing.
    after = await dry_run(database, settings(), user=ALICE, now=NOW)
    assert f"=== {ALICE} — already sent, not sent again ===" in after
    again = await send_now(database, settings(), [slack, discord], now=NOW)
    assert again.sent == [] and again.already_done == 3


async def test_dry_run_explains_who_gets_nothing(database: Database, seeder: Seeder) -> None:
    off = await dry_run(database, settings(), user=ERIN, now=NOW)
    assert off.endswith(
        f"No digest for {ERIN}: they turned it off (`/byok prefs digest on` turns it back on)."
    )
    empty = await dry_run(database, settings(), user=CAROL, now=NOW)
    assert empty.endswith(
        "no requests that week and empty digests are off (`/byok prefs empty-digest on`)."
    )
    stranger = await dry_run(database, settings(), user="slack:T9:U9", now=NOW)
    assert stranger == "slack:T9:U9 has never used the bot: no digest."


async def test_send_now_before_the_scheduled_time_sends_the_week_just_ended(
    database: Database, seeder: Seeder
) -> None:
    slack, discord = messengers()
    early = SEND_AT.astimezone(UTC) - timedelta(hours=8)  # Monday 01:00 in Berlin
    report = await send_now(database, settings(), [slack, discord], now=early)
    assert report.period_start == PERIOD and len(report.sent) == 3


def test_user_refs_parse_or_say_how_to_write_them() -> None:
    assert parse_user_ref("slack:T0123:U0456") == UserRef("slack", "T0123", "U0456")
    assert parse_user_ref("discord:1:2:3") == UserRef("discord", "1", "2:3")
    with pytest.raises(CommandError, match="platform:workspace:user"):
        parse_user_ref("U0456")


async def test_send_now_reports_what_it_did(database: Database, seeder: Seeder) -> None:
    slack, _ = messengers()  # no Discord here: Bob is left for an instance that has it
    report = await send_now(database, settings(), [slack], now=NOW)
    assert report.summary() == (
        "Weekly digest for Mon 16 – Sun 22 Nov 2026: 2 sent, 1 on a platform not connected here"
    )


async def test_dry_run_with_no_one_due_says_why(database: Database) -> None:
    text = await dry_run(database, settings(), now=NOW)  # no one has used the bot yet
    assert "0 digest(s).\nNo one is due one: no user with the digest on made a request" in text
