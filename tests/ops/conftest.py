"""Fixtures for operating the real ``byok-bot run`` process against loopback fakes.

``deployment`` gives a test everything an operator has: a config file pointing at the
fake Slack (HTTP mode, signed requests), the fake Discord (REST and gateway) and the
fake LLM providers, an environment holding the secrets, and ``start()`` for the bot.
Every process a test starts is killed at teardown, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from adapters.discord import WORKSPACE
from bot.app import build_app
from bot.config import load_config
from byok.db import Database
from byok.db.tables import UsageEvent
from byok.service import BYOKService
from byok.types import UserRef
from tests.fakes.discord_events import GUILD_ID, DiscordEvents
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.plugin import FakeProviders
from tests.ops.harness import BotProcess, SlackSender, clean_env, toml
from tests.postgres_server import PostgresServer, find_pg_bin
from tests.processes import infrastructure

TEAM = "T111"


def discord_token() -> str:
    """A fresh token shaped like a real Discord bot token (id . timestamp . hmac)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    def part(n: int) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(n))

    return f"M{part(25)}.{part(6)}.{part(38)}"


@dataclass
class Deployment:
    """One bot's configuration and the fakes it talks to."""

    root: Path
    fakes: FakeProviders
    slack: GatedSlack
    discord: GatewayDiscord
    database_url: str
    master_key: str = field(default_factory=lambda: secrets.token_hex(32))
    slack_bot_token: str = field(default_factory=lambda: "xoxb-" + secrets.token_hex(20))
    slack_app_token: str = field(default_factory=lambda: "xapp-1-A111-" + secrets.token_hex(20))
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    bots: list[BotProcess] = field(default_factory=list)
    count: int = 0

    @property
    def discord_token(self) -> str:
        return self.discord.token

    @property
    def sender(self) -> SlackSender:
        return SlackSender(self.signing_secret, self.slack.response_url, TEAM)

    @property
    def events(self) -> DiscordEvents:
        return DiscordEvents(self.discord)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(
            {
                "BYOK_ENCRYPTION_KEY": self.master_key,
                "SLACK_BOT_TOKEN": self.slack_bot_token,
                "SLACK_SIGNING_SECRET": self.signing_secret,
                "DISCORD_TOKEN": self.discord_token,
                "DATABASE_URL": self.database_url,
                **extra,
            }
        )

    def settings(
        self,
        *,
        slack: bool = True,
        discord: bool = False,
        log_format: str = "text",
        grace: float = 10.0,
        digest: bool = False,
        timeout_s: float = 20.0,
        **tables: dict[str, Any],
    ) -> dict[str, dict[str, Any]]:
        """The config tables; ``tables`` replace or add whole tables."""
        sections: dict[str, dict[str, Any]] = {
            "bot": {"mode": "production", "shutdown_grace_s": grace},
            "http": {"host": "127.0.0.1", "port": 0},
            "logging": {"level": "INFO", "format": log_format},
            "limits": {"requests_per_minute": 10_000},
            "slack": {"enabled": slack, "mode": "http", "api_url": self.slack.api_url},
            "discord": {
                "enabled": discord,
                "api_base": self.discord.api_base,
                "gateway_url": self.discord.gateway_url,
                "dev_guild_id": int(GUILD_ID),
            },
            "digest": {"enabled": digest},
        }
        for provider_id in self.fakes:
            sections[f"providers.{provider_id}"] = {
                "base_url": self.fakes[provider_id].base_url,
                "default_model": self.fakes[provider_id].models[0],
                "timeout_s": timeout_s,
                "max_retries": 0,
            }
        sections.update(tables)
        return sections

    def write(self, sections: dict[str, dict[str, Any]] | None = None, name: str = "") -> Path:
        self.count += 1
        path = self.root / (name or f"config-{self.count}.toml")
        path.write_text(toml(sections if sections is not None else self.settings()))
        return path

    async def start(
        self,
        config: Path | None = None,
        *,
        env: dict[str, str] | None = None,
        ready: bool = True,
    ) -> BotProcess:
        bot = await BotProcess.start(config or self.write(), env or self.env())
        self.bots.append(bot)
        if ready:
            await bot.ready()
        return bot

    async def seed(
        self,
        users: Iterable[tuple[UserRef, str, Decimal | None]],
        config: Path | None = None,
        **preferences: dict[str, Any],
    ) -> None:
        """Store keys (user, provider, monthly limit) the way the bot does, before it runs.

        ``preferences`` maps a user id to its preference changes.
        """
        loaded, _ = load_config(config or self.write(), self.env())
        app = await build_app(loaded)
        try:
            for user, provider, limit in users:
                key = self.fakes.key(provider)
                await BYOKService(app.engine, user).add_key(provider, key, monthly_limit=limit)
            for user_id, changes in preferences.items():
                user = _user_by_id(user_id)
                await BYOKService(app.engine, user).set_preferences(**changes)
        finally:
            await app.aclose()

    async def usage(self) -> dict[str, int]:
        """Usage rows by outcome, read from the database the bot wrote."""
        database = Database(self.database_url)
        try:
            async with database.session() as session:
                rows = await session.execute(
                    select(UsageEvent.outcome, func.count()).group_by(UsageEvent.outcome)
                )
                return {str(outcome): int(n) for outcome, n in rows}
        finally:
            await database.dispose()

    async def usage_rows(self) -> list[dict[str, Any]]:
        database = Database(self.database_url)
        try:
            async with database.session() as session:
                rows = await session.scalars(select(UsageEvent).order_by(UsageEvent.id))
                return [
                    {c.name: getattr(r, c.name) for c in UsageEvent.__table__.columns} for r in rows
                ]
        finally:
            await database.dispose()


def slack_user(user: str) -> UserRef:
    return UserRef("slack", TEAM, user)


def discord_user(user_id: str) -> UserRef:
    return UserRef("discord", WORKSPACE, user_id)


def _user_by_id(user_id: str) -> UserRef:
    return slack_user(user_id) if user_id.startswith(("U", "W")) else discord_user(user_id)


class GatedOpenAI(FakeOpenAI):
    """The fake OpenAI, whose chat answers wait while its gate is closed.

    Requests that arrive while the gate is closed are held (in flight, for the bot)
    until :meth:`open` — or until the server stops.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        #: The same for ``/models``, which a key check calls.
        self.models_gate = asyncio.Event()
        self.models_gate.set()

    def close(self) -> None:
        self.gate.clear()

    def open(self) -> None:
        self.gate.set()

    @property
    def chats(self) -> int:
        return len(self.requests_to("/chat/completions"))

    @property
    def key_checks(self) -> int:
        return len(self.requests_to("/models"))

    async def handle_chat(self, request: web.Request) -> web.StreamResponse:
        await self._held(self.gate)
        return await super().handle_chat(request)

    async def handle_models(self, request: web.Request) -> web.StreamResponse:
        await self._held(self.models_gate)
        return await super().handle_models(request)

    async def _held(self, gate: asyncio.Event) -> None:
        await _until_either(gate, self._stopping)


class GatedSlack(FakeSlack):
    """The fake Slack, which can hold its answers to one Web API method until released."""

    def __init__(self) -> None:
        super().__init__()
        self.held_method: str | None = None
        self.holding = asyncio.Event()  # a call to the held method is waiting
        self._gate = asyncio.Event()
        self._gate.set()

    def hold(self, method: str) -> None:
        self.held_method = method
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["method"] == self.held_method and not self._gate.is_set():
            self.holding.set()
            await _until_either(self._gate, self._stopping)
        return await super()._api(request)


async def _until_either(gate: asyncio.Event, stopping: asyncio.Event) -> None:
    """Wait for the gate to open or the fake to stop (so a held answer never outlives it)."""
    opened = asyncio.create_task(gate.wait())
    stopped = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({opened, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        opened.cancel()
        stopped.cancel()


class GatewayDiscord(FakeDiscord):
    """The fake Discord, in which the bot is a member of the test guild."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.add_guild(DiscordEvents(self).guild())


@pytest.fixture
async def fake_openai() -> AsyncIterator[GatedOpenAI]:
    """Replaces the plugin's fake OpenAI (and so ``fake_providers['openai']``)."""
    async with GatedOpenAI() as fake:
        yield fake


@pytest.fixture
async def fake_slack() -> AsyncIterator[GatedSlack]:
    async with GatedSlack() as fake:
        yield fake


@pytest.fixture
async def fake_discord() -> AsyncIterator[GatewayDiscord]:
    async with GatewayDiscord(token=discord_token()) as fake:
        yield fake


@pytest.fixture
async def deployment(
    tmp_path: Path,
    fake_providers: FakeProviders,
    fake_slack: GatedSlack,
    fake_discord: GatewayDiscord,
) -> AsyncIterator[Deployment]:
    deployed = Deployment(
        tmp_path,
        fake_providers,
        fake_slack,
        fake_discord,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/byok.db",
    )
    try:
        yield deployed
    finally:
        for bot in deployed.bots:
            await bot.kill()


class PausablePostgres(PostgresServer):
    """A throwaway PostgreSQL that a test can stop and start again on the same port.

    Shared by the tests of a session; a test that halts it resumes it (``down()``).
    """

    halted = False

    def _options(self) -> str:
        return f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"

    def halt(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.halted = True

    def resume(self) -> None:
        if self.halted:
            self._run(
                "pg_ctl", "-D", str(self.data), "-o", self._options(), "-w", "-t", "60",
                "-l", str(self.root / "log"), "start",
            )  # fmt: skip
            self.halted = False

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        """Running again after the block, whatever happened inside it."""
        try:
            yield
        finally:
            self.resume()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Halted inside the block (unless resumed there), running again after it."""
        self.halt()
        with self.restored():
            yield


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[PausablePostgres]:
    """A PostgreSQL of the ops tests' own, which they may stop (not the shared one)."""
    bindir = find_pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found (scripts/test installs them)")
    server = PausablePostgres(bindir)
    with infrastructure():  # the session's: stopped after whichever test runs last
        server.start()
    try:
        yield server
    finally:
        with infrastructure():
            server.stop()
