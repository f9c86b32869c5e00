"""kill -9 of ``byok-bot run`` mid-answer, then a restart on the same database.

Three Slack users ask through the real process (HTTP mode, signed requests): one key
under a monthly limit (its pending row holds the worst-case cost), two without one (their
pending rows are group-committed), on two providers with different SDKs. Each answer is
stalled by the fake provider after its first two words, so when the process is killed
(SIGKILL: no handler runs, nothing is flushed) every ask is mid-answer, its words on
screen. A restart on the same database must neither lose nor duplicate those attempts,
nor close them while they are younger than any request could live (another instance may
own them); it then serves new asks as usual. Closing the abandoned rows — what every
start does an hour later — makes each killed attempt ``cancelled`` / ``interrupted``,
keeping its reservation. In the end the database holds exactly one usage row per request
the providers saw, per user, once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from byok.db import Database
from byok.usage import UsageLedger
from byok.users import get_user_id
from tests.fakes.loopback import Fault
from tests.ops.conftest import Deployment, slack_user
from tests.ops.harness import BotProcess, idle, poll
from tests.postgres_server import PostgresServer

#: user -> (provider, monthly limit)
USERS: dict[str, tuple[str, Decimal | None]] = {
    "U100": ("openai", Decimal(50)),
    "U200": ("openai", None),
    "U300": ("anthropic", None),
}
CHAT_PATH = {"openai": "/chat/completions", "anthropic": "/v1/messages"}
IN_FLIGHT = 2  # asks per user when the process is killed
AFTER_RESTART = 1  # asks per user after the restart
SHOWN = "Hello from"  # the first two words of the fake's answer
ASK = re.compile(rb"\[crash (\d+) (U\d+)\]")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def crash_deployment(
    request: pytest.FixtureRequest, deployment: Deployment
) -> AsyncIterator[Deployment]:
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        deployment.database_url = server.create_database()
    yield deployment


async def _ask(deployment: Deployment, bot: BotProcess, n: int, user: str) -> str:
    channel = f"C{n:04d}"
    status = await deployment.sender.command(
        bot, "/ask", f"[crash {n} {user}] What is tea?", user=user, channel=channel
    )
    assert status == 200
    return channel


def _shows(deployment: Deployment, channel: str, text: str) -> bool:
    return text in json.dumps(deployment.slack.texts(channel))


def _requests_seen(deployment: Deployment) -> Counter[str]:
    """Generation requests the providers received, per user (from the question's marker)."""
    seen: Counter[str] = Counter()
    for provider, path in CHAT_PATH.items():
        for request in deployment.fakes[provider].requests_to(path, "POST"):
            found = ASK.search(request.body)
            assert found is not None, request.body[:200]
            seen[found.group(2).decode()] += 1
    return seen


async def _rows(deployment: Deployment) -> list[dict[str, Any]]:
    """Every usage row, with ``user`` the Slack id it belongs to."""
    rows = await deployment.usage_rows()
    database = Database(deployment.database_url)
    try:
        async with database.session() as session:
            ids = {await get_user_id(session, slack_user(user)): user for user in USERS}
    finally:
        await database.dispose()
    return [{**row, "user": ids[row["user_ref"]]} for row in rows]


async def _close_abandoned(database_url: str) -> int:
    """What every start does to pending rows over an hour old, for rows of any age."""
    database = Database(database_url)
    try:
        return await UsageLedger(database).close_abandoned(older_than=timedelta(0))
    finally:
        await database.dispose()


async def test_kill_9_mid_answer_then_restart_leaves_one_row_per_attempt(
    crash_deployment: Deployment,
) -> None:
    deployment = crash_deployment
    config = deployment.write(deployment.settings(timeout_s=30.0))
    users = [(slack_user(u), provider, limit) for u, (provider, limit) in USERS.items()]
    await deployment.seed(users, config)
    for provider, path in CHAT_PATH.items():
        fake = deployment.fakes[provider]
        stalled = sum(IN_FLIGHT for p, _ in USERS.values() if p == provider)
        fake.inject(Fault.stall(after=fake.events_before_text + 2), path=path, times=stalled)
    bot = await deployment.start(config)

    asked = [(n * len(USERS) + i, user) for n in range(IN_FLIGHT) for i, user in enumerate(USERS)]
    killed = await asyncio.gather(*(_ask(deployment, bot, n, user) for n, user in asked))
    await poll(
        lambda: all(_shows(deployment, c, SHOWN) for c in killed), "every answer on screen, stalled"
    )
    assert _requests_seen(deployment) == dict.fromkeys(USERS, IN_FLIGHT)
    pending = await _rows(deployment)
    assert Counter(r["outcome"] for r in pending) == {"pending": len(asked)}

    bot.signal(signal.SIGKILL)
    assert await bot.exit_code() == -signal.SIGKILL

    restarted = await deployment.start(config)
    # Younger than any request may live: another instance could own them. Kept, not doubled.
    assert await _rows(deployment) == pending
    later = [(len(asked) + i, user) for i, user in enumerate(list(USERS) * AFTER_RESTART)]
    answered = await asyncio.gather(*(_ask(deployment, restarted, n, user) for n, user in later))
    await idle(restarted, commands=len(later))
    answers = "Hello from the fake."
    await poll(lambda: all(_shows(deployment, c, answers) for c in answered), "the new answers")
    assert await restarted.stop() == 0

    assert await _close_abandoned(deployment.database_url) == len(asked)
    rows = await _rows(deployment)
    seen = _requests_seen(deployment)
    assert seen == dict.fromkeys(USERS, IN_FLIGHT + AFTER_RESTART)
    assert Counter(r["user"] for r in rows) == seen, "one usage row per request the providers saw"
    assert len({r["request_id"] for r in rows}) == len(rows), "no attempt recorded twice"
    before = {r["id"]: r for r in pending}
    for row in rows:
        where = f"{row['user']} {row['request_id']}"
        if row["id"] not in before:  # asked after the restart
            assert row["outcome"] == "success" and row["output_tokens"] == 6, where
            continue
        assert (row["outcome"], row["error_kind"]) == ("cancelled", "interrupted"), where
        assert row["finished_at"] is not None, where
        # The provider may have billed the call: its reservation (if any) still counts.
        assert row["reserved_cost"] == before[row["id"]]["reserved_cost"], where
        _, limit = USERS[row["user"]]
        assert (row["reserved_cost"] is not None and row["reserved_cost"] > 0) == (
            limit is not None
        ), where
