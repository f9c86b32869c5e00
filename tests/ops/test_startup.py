"""``byok-bot run``: what it starts, what it says is missing, and the settings it refuses."""

from __future__ import annotations

import re
import secrets
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from byok.db import Database
from byok.db.tables import UsageEvent, User
from tests.ops.conftest import Deployment, slack_user
from tests.ops.harness import WAIT, BotProcess, poll

_TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.:\-]+: \S"
)


async def test_run_starts_every_enabled_part_and_says_so(deployment: Deployment) -> None:
    config = deployment.write(deployment.settings(slack=True, discord=True, digest=True))
    bot = await deployment.start(config)

    assert bot.has("started: Slack: HTTP mode at /slack/events")
    assert bot.has("started: Discord: connected, commands registered to guild 1300000000000000001")
    assert bot.has("started: weekly digest scheduler: every mon at 09:00 UTC")
    assert bot.has(f"started: HTTP server on http://127.0.0.1:{bot.port}")
    assert not bot.has("not started:")
    status, ready = await bot.readyz()
    assert status == 200
    assert ready["checks"] == {
        "database": True,
        "accepting_work": True,
        "slack": True,
        "discord": True,
    }
    # It really talked to both platforms, with the configured tokens.
    [auth] = deployment.slack.calls_to("auth.test")
    assert auth.token == deployment.slack_bot_token
    assert deployment.discord.identify[0]["token"] == deployment.discord_token
    assert {c["name"] for c in deployment.discord.commands["1300000000000000001"]} >= {"ask"}

    assert await bot.stop() == 0
    for part in ("weekly digest scheduler", "HTTP server", "Discord", "Slack"):
        assert bot.has(f"stopped: {part}"), part
    assert bot.lines[-1].endswith("byok-bot stopped: usage written, database closed")
    # [logging] format = "text": every line a readable record, no stray output.
    assert all(_TEXT_LINE.match(line) for line in bot.lines), bot.output
    # No library chatter at start-up: discord.py's voice notice, apscheduler's job lines.
    assert not bot.has("PyNaCl") and not bot.has("apscheduler"), bot.output


async def test_slack_socket_mode_connects_and_answers_over_the_socket(
    deployment: Deployment,
) -> None:
    sections = deployment.settings()
    sections["slack"]["mode"] = "socket"
    env = deployment.env(SLACK_APP_TOKEN=deployment.slack_app_token)
    bot = await deployment.start(deployment.write(sections), env=env)
    fake = deployment.slack

    assert bot.has("started: Slack: Socket Mode")
    assert fake.socket_connected.is_set()
    [opened] = fake.calls_to("apps.connections.open")
    assert opened.token == deployment.slack_app_token
    payload = {
        "team_id": "T111",
        "channel_id": "C111",
        "channel_name": "general",
        "user_id": "U111",
        "command": "/byok",
        "text": "list",
        "response_url": fake.response_url(),
        "trigger_id": "1.2.3",
    }
    envelope = await fake.send_envelope("slash_commands", payload)
    assert await fake.envelope_ack(envelope, WAIT) == {"envelope_id": envelope}
    await fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"), WAIT)
    assert "no keys yet" in str(fake.calls_to("chat.postEphemeral")[0].args["blocks"])
    assert await bot.stop() == 0
    await poll(lambda: not fake.socket_connected.is_set(), "the socket closed")


async def test_run_says_what_is_missing(deployment: Deployment) -> None:
    config = deployment.write(deployment.settings(slack=False, discord=False, digest=True))
    bot = await deployment.start(config)

    for missing in (
        "not started: Slack: [slack] enabled = false",
        "not started: Discord: [discord] enabled = false",
        "not started: no chat adapter is enabled: set [slack] or [discord] enabled = true",
        "not started: weekly digest: no chat adapter to send it with",
    ):
        assert bot.has(missing), missing
    status, ready = await bot.readyz()
    assert (status, ready["checks"]) == (200, {"database": True, "accepting_work": True})
    assert await bot.stop() == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Case = tuple[dict[str, dict[str, Any]], dict[str, str], str]

CASES: dict[str, Case] = {
    "typo": (
        {"slack": {"enabled": True, "mode": "http", "bot_tokn": "x"}},
        {},
        "unknown setting [slack] bot_tokn — did you mean `bot_token`?",
    ),
    "slack token missing": (
        {},
        {"SLACK_BOT_TOKEN": ""},
        "[slack] is enabled but bot_token is missing (set SLACK_BOT_TOKEN",
    ),
    "no master key in production": (
        {},
        {"BYOK_ENCRYPTION_KEY": ""},
        "production mode needs a master key",
    ),
    "port out of range": (
        {"http": {"port": 70000}},
        {},
        "[http] port: Input should be less than or equal to 65535",
    ),
    "slack refuses the token": (
        {},
        {"SLACK_BOT_TOKEN": f"xoxp-not-a-bot-token-{secrets.token_hex(8)}"},
        "cannot start: Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN",
    ),
    "discord refuses the token": (
        {"discord": {"enabled": True}},
        {"DISCORD_TOKEN": "MTIz.not-the.token"},
        "Discord refused the bot token: check DISCORD_TOKEN / [discord] token",
    ),
    "slack unreachable": (
        {
            "slack": {
                "enabled": True,
                "mode": "http",
                "api_url": f"http://127.0.0.1:{_closed_port()}/api/",
            }
        },
        {},
        "cannot start: Slack: cannot reach the Web API at [slack] api_url = http://127.0.0.1:",
    ),
    "discord unreachable": (
        {"discord": {"enabled": True, "api_base": f"http://127.0.0.1:{_closed_port()}/api/v10"}},
        {},
        "Discord: cannot reach [discord] api_base = http://127.0.0.1:",
    ),
    "unknown digest timezone": (
        {"digest": {"enabled": True, "timezone": "Mars/Olympus_Mons"}},
        {},
        "[digest] timezone: unknown time zone 'Mars/Olympus_Mons'",
    ),
}


async def test_an_http_port_already_in_use_is_named(deployment: Deployment) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        sections = deployment.settings()
        sections["http"] = {**sections["http"], "port": port}
        bot = await BotProcess.start(deployment.write(sections), deployment.env())
        deployment.bots.append(bot)
        code = await bot.exit_code()
    assert code == 2, bot.output
    assert f"cannot start: [http] cannot listen on 127.0.0.1:{port} (address already in use" in (
        bot.output
    )
    assert "Traceback" not in bot.output and "Unclosed" not in bot.output


@pytest.mark.parametrize("case", list(CASES))
async def test_a_missing_or_invalid_setting_exits_non_zero_naming_it(
    deployment: Deployment, case: str
) -> None:
    changes, env, message = CASES[case]
    sections = deployment.settings()
    for table, values in changes.items():
        sections[table] = {**sections[table], **values}
    config = deployment.write(sections)
    env_vars = {k: v for k, v in deployment.env(**env).items() if v}
    bot = await BotProcess.start(config, env_vars)
    deployment.bots.append(bot)

    code = await bot.exit_code()
    assert code == 2, bot.output
    assert message in bot.output
    assert "Traceback" not in bot.output
    assert "Unclosed" not in bot.output  # what it opened before failing, it closed
    assert not bot.has("started: HTTP server")


async def test_usage_rows_a_crashed_instance_left_pending_are_closed_at_start(
    deployment: Deployment,
) -> None:
    config = deployment.write(deployment.settings(slack=True, discord=False, digest=False))
    await deployment.seed([(slack_user("U111"), "openai", Decimal(20))], config)
    database = Database(deployment.database_url)
    try:
        async with database.session() as session:
            user_ref = await session.scalar(select(User.id).where(User.user_id == "U111"))
            now = datetime.now(UTC)
            for request_id, started in (("crashed", now - timedelta(hours=3)), ("live", now)):
                session.add(
                    UsageEvent(
                        user_ref=user_ref, request_id=request_id, provider="openai",
                        model="gpt-5.6-terra", key_source="user", request_kind="ask",
                        is_fallback=False, outcome="pending", reserved_cost=Decimal("0.5"),
                        created_at=started,
                    )
                )  # fmt: skip
    finally:
        await database.dispose()

    bot = await deployment.start(config)
    await bot.wait_for("closed 1 usage row(s) left pending by a process that stopped mid-request")
    assert await bot.stop() == 0
    assert bot.has("stopped: abandoned-row check")
    rows = {r["request_id"]: r for r in await deployment.usage_rows()}
    assert (rows["crashed"]["outcome"], rows["crashed"]["error_kind"]) == (
        "cancelled",
        "interrupted",
    )
    assert rows["crashed"]["reserved_cost"] == Decimal("0.5")  # still counts against the limit
    assert rows["live"]["outcome"] == "pending"  # another instance may still be answering it
