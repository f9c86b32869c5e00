"""The HTTP server of ``byok-bot run``: /healthz, /readyz and /api/byok/providers.

Readiness is live: it turns 503, naming the failing check, when PostgreSQL stops or
the Discord gateway drops, and 200 again when they are back.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from byok.secret import looks_like_key
from tests.ops.conftest import Deployment, PausablePostgres, slack_user
from tests.ops.harness import BotProcess, poll


async def test_health_and_the_providers_list(deployment: Deployment) -> None:
    operator_key = "sk-proj-" + secrets.token_hex(24)
    sections = deployment.settings()
    sections["providers.openai"]["allow_operator_key"] = True
    config = deployment.write(sections)
    await deployment.seed([(slack_user("U123SECRET"), "openai", Decimal(5))], config)
    bot = await deployment.start(config, env=deployment.env(OPENAI_API_KEY=operator_key))

    assert await bot.get("/healthz") == (200, '{"status": "alive"}')
    status, body = await bot.get("/api/byok/providers")
    assert status == 200
    providers = {p["id"]: p for p in json.loads(body)["providers"]}
    assert list(providers) == ["openai", "anthropic", "google", "xai", "openrouter"]
    for provider_id, entry in providers.items():
        assert entry["default_model"] == deployment.fakes[provider_id].models[0]
    assert providers["anthropic"]["aliases"] == ["claude"]
    assert providers["openai"]["legacy_models"]["gpt-4"]  # the familiar names it maps
    assert providers["openai"]["operator_key_available"] is True
    assert providers["anthropic"]["operator_key_available"] is False
    # No secrets and no user data: not the operator's key, not a user's id or key.
    for secret in (operator_key, deployment.fakes.key("openai"), "U123SECRET"):
        assert secret not in body
    assert not looks_like_key(body)
    assert "base_url" not in body and "127.0.0.1" not in body
    assert await bot.stop() == 0


@pytest.mark.postgres
async def test_readyz_names_postgresql_while_it_is_down(
    deployment: Deployment, own_postgres: PausablePostgres
) -> None:
    deployment.database_url = own_postgres.create_database()
    bot = await deployment.start()
    assert (await bot.readyz())[0] == 200

    with own_postgres.down():
        status, ready = await poll(_not_ready(bot), "/readyz to fail")
        assert status == 503
        assert ready["status"] == "not ready"
        assert ready["checks"] == {"database": False, "accepting_work": True, "slack": True}
        assert ready["instance"]["instances_live"] is None  # unknown while it is down
        assert (await bot.get("/healthz"))[0] == 200  # alive all the same
    await poll(_ready(bot), "/readyz to recover once PostgreSQL is back")
    assert await bot.stop() == 0


async def test_readyz_names_discord_while_its_gateway_is_down(deployment: Deployment) -> None:
    bot = await deployment.start(deployment.write(deployment.settings(discord=True)))
    status, ready = await bot.readyz()
    assert status == 200
    assert ready["instance"]["instances_live"] == 1
    discord = ready["instance"]["discord"]
    assert (discord["shard_count"], discord["shards_held"]) == (1, [0])

    await deployment.discord.drop_gateway()
    status, ready = await poll(_not_ready(bot), "/readyz to fail")
    assert status == 503
    assert ready["checks"] == {
        "database": True,
        "accepting_work": True,
        "slack": True,
        "discord": False,
    }
    deployment.discord.restore_gateway()  # discord.py reconnects and resumes by itself
    await poll(_ready(bot), "/readyz to recover once the gateway is back")

    _, metrics = await bot.get("/metrics")
    assert 'byok_adapter_errors_total{kind="gateway_disconnect",platform="discord"}' in metrics
    assert await bot.stop() == 0


def _not_ready(bot: BotProcess) -> Callable[[], Awaitable[tuple[int, dict[str, Any]] | None]]:
    async def check() -> tuple[int, dict[str, Any]] | None:
        status, ready = await bot.readyz()
        return (status, ready) if status != 200 else None

    return check


def _ready(bot: BotProcess) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await bot.readyz())[0] == 200

    return check
