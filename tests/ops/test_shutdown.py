"""SIGTERM with requests in flight: nothing new starts, nothing running is lost.

The fake OpenAI holds every answer behind a gate, so requests from Slack and Discord are
truly in flight — their usage rows pending or queued — when the signal arrives. Then
either the gate opens (they finish within the grace period: one success row each) or it
never does (the grace period runs out: one cancelled row each). Either way the process
exits 0 and the database holds exactly one row per attempt, none pending.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_app
from bot.config import load_config
from byok.db import Database
from byok.db.tables import DigestLog
from byok.service import BYOKService
from tests.fakes.discord_events import ALICE
from tests.ops.conftest import (
    Deployment,
    GatedOpenAI,
    PausablePostgres,
    discord_user,
    slack_user,
)
from tests.ops.harness import WAIT, BotProcess, poll


def _gate(deployment: Deployment) -> GatedOpenAI:
    fake = deployment.fakes["openai"]
    assert isinstance(fake, GatedOpenAI)
    return fake


async def _deploy(deployment: Deployment, grace: float) -> BotProcess:
    config = deployment.write(deployment.settings(discord=True, digest=True, grace=grace))
    await deployment.seed(
        [
            (slack_user("U111"), "openai", Decimal(50)),  # a limit: pending rows, then finished
            (slack_user("U222"), "openai", None),  # no limit: rows queued, group-committed
            (discord_user(ALICE["id"]), "openai", None),
        ],
        config,
    )
    return await deployment.start(config)


async def _ask_discord(deployment: Deployment, prompt: str) -> dict[str, Any]:
    events = deployment.events
    payload = events.command("ask", events.options(prompt=prompt))
    await deployment.discord.dispatch("INTERACTION_CREATE", payload)
    return payload


def _slack_shows(deployment: Deployment) -> str:
    fake = deployment.slack
    return json.dumps([fake.messages, fake.ephemeral, fake.responses])


async def test_sigterm_lets_requests_in_flight_finish_and_records_their_usage(
    deployment: Deployment,
) -> None:
    bot = await _deploy(deployment, grace=20.0)
    gate = _gate(deployment)
    gate.close()
    for user in ("U111", "U111", "U222", "U222"):
        assert await deployment.sender.command(bot, "/ask", "What is tea?", user=user) == 200
    asked = await _ask_discord(deployment, "What is coffee?")
    await poll(lambda: gate.chats == 5, "five requests held by the provider")
    assert await deployment.usage() == {"pending": 5}  # every row exists before the answer
    assert (deployment.root / "byok.db-wal").exists()  # the bot has the database open

    bot.signal()
    await bot.wait_for("stopping: no new work; waiting up to 20.0s for 5 command(s) in flight")
    # Still serving HTTP, alive, but not ready: load balancers stop sending work.
    status, ready = await bot.readyz()
    assert status == 503 and ready["checks"]["accepting_work"] is False
    assert (await bot.get("/healthz"))[0] == 200
    # New work is turned away, on both platforms, and never reaches a provider.
    assert await deployment.sender.command(bot, "/ask", "One more?", user="U222") == 200
    await poll(lambda: "restarting" in _slack_shows(deployment), "Slack told it is restarting")
    late = await _ask_discord(deployment, "One more?")
    await poll(
        lambda: (
            "restarting" in json.dumps(deployment.discord.interaction(late["id"]).callbacks)
            or "restarting" in json.dumps(deployment.discord.responses(late["id"]))
        ),
        "Discord told it is restarting",
    )
    assert gate.chats == 5

    gate.open()
    assert await bot.exit_code(WAIT) == 0
    assert not bot.has("grace period")
    for part in ("weekly digest scheduler", "Slack", "Discord", "HTTP server"):
        assert bot.has(f"stopped: {part}"), part
    assert bot.lines[-1].endswith("byok-bot stopped: usage written, database closed")

    # The database was closed: SQLite folded its write-ahead log back into the file.
    assert not (deployment.root / "byok.db-wal").exists()
    rows = await deployment.usage_rows()
    assert Counter(r["outcome"] for r in rows) == {"success": 5}
    assert all(r["input_tokens"] == 11 and r["output_tokens"] == 6 for r in rows)
    assert len({r["request_id"] for r in rows}) == 5
    # The answers reached the users too.
    assert _slack_shows(deployment).count("Hello from the fake.") >= 4
    answered = json.dumps(deployment.discord.responses(asked["id"]))
    assert "Hello from the fake." in answered


async def test_a_key_check_in_flight_is_waited_for_and_new_ones_are_refused(
    deployment: Deployment,
) -> None:
    config = deployment.write(deployment.settings(grace=20.0))
    bot = await deployment.start(config)
    fake = _gate(deployment)
    key = deployment.fakes.key("openai")
    fake.models_gate.clear()
    checking = await deployment.sender.key_form(bot, "openai", key, user="U111")
    assert checking["response_action"] == "update"  # "Checking your openai key…"
    await poll(lambda: fake.key_checks == 1, "the key check held by the provider")

    bot.signal()
    await bot.wait_for("stopping: no new work; waiting up to 20.0s for 1 command(s) in flight")
    refused = await deployment.sender.key_form(bot, "openai", key, user="U222")
    assert refused == {
        "response_action": "errors",
        "errors": {
            "key": "The bot is restarting; nothing was stored — please try again in a minute."
        },
    }
    assert fake.key_checks == 1  # the refused key never reached the provider

    fake.models_gate.set()
    assert await bot.exit_code(WAIT) == 0
    assert bot.lines[-1].endswith("byok-bot stopped: usage written, database closed")
    [update] = deployment.slack.calls_to("views.update")  # the first form learnt the result
    assert f"…{key[-4:]}" in json.dumps(update.args["view"], ensure_ascii=False)
    loaded, _ = load_config(config, deployment.env())
    app = await build_app(loaded)
    try:
        stored = await BYOKService(app.engine, slack_user("U111")).get_user_api_keys()
        assert [k.key.provider_id for k in stored] == ["openai"]
        assert await BYOKService(app.engine, slack_user("U222")).get_user_api_keys() == []
    finally:
        await app.aclose()


async def test_sigterm_during_a_digest_run_finishes_the_dm_being_sent_and_no_more(
    deployment: Deployment,
) -> None:
    due = datetime.now(UTC) - timedelta(minutes=5)  # the start-up run sends this week's
    sections = deployment.settings(digest=True, grace=20.0)
    sections["digest"] = {
        "enabled": True,
        "day": ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[due.weekday()],
        "time": f"{due:%H:%M}",
        "timezone": "UTC",
        "grace_hours": 1.0,
    }
    config = deployment.write(sections)
    users = ("U111", "U222", "U333")
    wants_one = {user: {"digest_when_empty": True} for user in users}
    await deployment.seed([(slack_user(u), "openai", None) for u in users], config, **wants_one)
    slack = deployment.slack
    slack.hold("chat.postMessage")
    bot = await deployment.start(config)
    await poll(slack.holding.is_set, "the first digest DM on its way to Slack")

    bot.signal()
    await bot.wait_for("stopping: no new work")
    slack.release()
    assert await bot.exit_code(WAIT) == 0
    assert bot.has(": 1 sent, 2 left for the next run (stopping)")
    assert bot.has("stopped: weekly digest scheduler")
    assert len(slack.calls_to("chat.postMessage")) == 1
    database = Database(deployment.database_url)
    try:
        async with database.session() as session:
            statuses = (await session.scalars(select(DigestLog.status))).all()
    finally:
        await database.dispose()
    assert statuses == ["sent"]  # the DM in flight is marked; nobody else was claimed


async def test_when_the_grace_period_runs_out_attempts_are_recorded_as_cancelled(
    deployment: Deployment,
) -> None:
    bot = await _deploy(deployment, grace=1.0)
    gate = _gate(deployment)
    gate.close()  # and never opened: these answers cannot finish
    for user in ("U111", "U222"):
        assert await deployment.sender.command(bot, "/ask", "What is tea?", user=user) == 200
    await _ask_discord(deployment, "What is coffee?")
    await poll(lambda: gate.chats == 3, "three requests held by the provider")

    bot.signal()
    assert await bot.exit_code(WAIT) == 0
    assert bot.has("grace period of 1.0s over: cancelled 3 command(s) of 3 still running")
    assert bot.lines[-1].endswith("byok-bot stopped: usage written, database closed")

    rows = await deployment.usage_rows()
    assert Counter(r["outcome"] for r in rows) == {"cancelled": 3}
    assert all(r["error_kind"] == "cancelled" and r["finished_at"] is not None for r in rows)
    # A cancelled call may still have been billed: its worst case is kept, never $0.
    assert all(r["reserved_cost"] and r["reserved_cost"] > 0 for r in rows)


async def _answer_while_postgresql_is_down(
    deployment: Deployment, own_postgres: PausablePostgres
) -> BotProcess:
    """An answer that finishes while PostgreSQL is down: its usage row waits in memory.

    The caller runs inside ``own_postgres.restored()``, which starts it again afterwards.
    """
    deployment.database_url = own_postgres.create_database()
    config = deployment.write()
    await deployment.seed([(slack_user("U222"), "openai", None)], config)
    bot = await deployment.start(config)
    gate = _gate(deployment)
    gate.close()
    assert await deployment.sender.command(bot, "/ask", "What is tea?", user="U222") == 200
    await poll(lambda: gate.chats == 1, "the request in flight")
    own_postgres.halt()
    gate.open()
    await bot.wait_for("usage writer: database unavailable, 1 rows kept; retrying")
    bot.signal()
    await bot.wait_for("writing 1 queued usage row(s)")
    return bot


@pytest.mark.postgres
async def test_usage_held_during_a_database_outage_is_written_when_it_returns(
    deployment: Deployment, own_postgres: PausablePostgres
) -> None:
    with own_postgres.restored():
        bot = await _answer_while_postgresql_is_down(deployment, own_postgres)
        own_postgres.resume()
        assert await bot.exit_code(WAIT) == 0
    assert bot.has("byok-bot stopped: usage written, database closed")
    assert Counter(r["outcome"] for r in await deployment.usage_rows()) == {"success": 1}


@pytest.mark.postgres
async def test_usage_the_database_never_takes_is_reported_not_waited_on_forever(
    deployment: Deployment, own_postgres: PausablePostgres
) -> None:
    with own_postgres.restored():
        bot = await _answer_while_postgresql_is_down(deployment, own_postgres)
        assert await bot.exit_code(WAIT) == 1  # bounded: no hang until SIGKILL
    assert bot.has("1 usage row(s) could not be written within 5.0s: the database is unavailable")
    assert bot.has("byok-bot stopped: usage rows LOST, database closed")
