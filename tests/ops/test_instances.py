"""Several ``byok-bot run`` processes on one real PostgreSQL.

Two instances start at the same moment against an empty database (each migrates on
start: the advisory lock makes one do it and the other find it done), then serve
concurrent traffic spread over both — every request held in flight at the provider
at once — and the database ends with exactly one usage row per attempt.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import text

from byok.db import Database, head_revision
from tests.ops.conftest import Deployment, GatedOpenAI, slack_user
from tests.ops.harness import idle, poll
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres

USERS = [f"U{n}00" for n in range(1, 7)]
LIMITED = USERS[:3]  # a monthly limit: reservations under a row lock, across instances
REQUESTS = 24


async def test_two_instances_share_one_postgresql_without_conflicts_or_lost_rows(
    deployment: Deployment, postgres_server: PostgresServer
) -> None:
    deployment.database_url = postgres_server.create_database()
    configs = []
    for name in ("bot-a", "bot-b"):
        sections = deployment.settings()
        sections["bot"]["instance_name"] = name
        configs.append(deployment.write(sections))
    bots = [await deployment.start(config, ready=False) for config in configs]
    await asyncio.gather(*(bot.ready() for bot in bots))

    migrated = [line for bot in bots for line in bot.lines if "database migrated" in line]
    assert len(migrated) == 1, migrated
    assert migrated[0].endswith(f"database migrated from empty to {head_revision()}")
    database = Database(deployment.database_url)
    try:
        async with database.session() as session:
            versions = await session.execute(text("SELECT version_num FROM alembic_version"))
            assert [row[0] for row in versions] == [head_revision()]
    finally:
        await database.dispose()

    await deployment.seed(
        [(slack_user(u), "openai", Decimal(50) if u in LIMITED else None) for u in USERS],
        configs[0],
    )
    gate = deployment.fakes["openai"]
    assert isinstance(gate, GatedOpenAI)
    gate.close()
    acks = await asyncio.gather(
        *(
            deployment.sender.command(bots[i % 2], "/ask", f"Question {i}", user=USERS[i % 6])
            for i in range(REQUESTS)
        )
    )
    assert acks == [200] * REQUESTS
    await poll(lambda: gate.chats == REQUESTS, "every request in flight at once")
    # Every attempt's row exists before its provider answers, limited or not.
    assert (await deployment.usage()) == {"pending": REQUESTS}
    gate.open()
    for bot in bots:
        metrics = await idle(bot, commands=REQUESTS // 2)
        requests = metrics.value("byok_provider_requests_total", outcome="success")
        assert requests == REQUESTS // 2
    assert [await bot.stop() for bot in bots] == [0, 0]

    rows = await deployment.usage_rows()
    assert len(rows) == REQUESTS
    assert Counter(r["outcome"] for r in rows) == {"success": REQUESTS}
    assert len({r["request_id"] for r in rows}) == REQUESTS
    per_user = Counter(r["user_ref"] for r in rows)
    assert sorted(per_user.values()) == [REQUESTS // len(USERS)] * len(USERS)
    assert all(r["cost"] and r["cost"] > 0 for r in rows)
    assert gate.chats == REQUESTS  # and the provider was asked exactly once per request
