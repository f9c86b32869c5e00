"""The chat platforms: every registered one is a ChatPlatform, and `run` and the CLI take
theirs from the one registry (``adapters/platforms.py``), not by naming Slack or Discord."""

from __future__ import annotations

import ast
import inspect
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiohttp import web

import adapters.cli
import adapters.run
from adapters.cli import _messengers
from adapters.instance import Membership
from adapters.platforms import PLATFORMS, Platform, sections
from adapters.run import Running, _start_platforms
from bot.app import App, build_app
from bot.chat_platform import ChatPlatform, StartError
from bot.config import Config, load_config
from bot.http_server import HttpServer
from bot.instances import InstanceRegistry
from bot.metrics import Metrics
from bot.reply import Reply
from byok.types import UserRef


class FakeMessenger:
    platform = "fake"

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        pass


class FakeChat:
    """A platform that records what `run` or the CLI asked of it."""

    def __init__(self, membership: Membership | None) -> None:
        self.membership = membership
        self.calls: list[str] = []
        self.messenger = FakeMessenger()

    async def start(self) -> None:
        self.calls.append("start")

    async def start_for_sending(self) -> None:
        self.calls.append("start_for_sending")

    async def hand_over(self) -> None:
        self.calls.append("hand_over")

    async def stop(self, grace_s: float) -> None:
        self.calls.append(f"stop({grace_s})")

    def readiness(self) -> tuple[str, bool]:
        return "fake", True

    def routes(self) -> Sequence[web.RouteDef]:
        return [web.get("/fake/events", self._events)]

    async def _events(self, request: web.Request) -> web.Response:
        return web.Response()

    def describe(self) -> str:
        return "Fake: listening"


class Built:
    def __init__(self) -> None:
        self.chats: list[FakeChat] = []

    def __call__(self, config: Config, app: App, membership: Membership | None) -> ChatPlatform:
        chat = FakeChat(membership)
        self.chats.append(chat)
        return chat


def _config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/byok.db"\n{extra}')
    return load_config(path, {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)})[0]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    built = await build_app(_config(tmp_path))
    try:
        yield built
    finally:
        await built.aclose()


async def test_every_registered_platform_is_a_chat_platform(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '[slack]\nenabled = true\nbot_token = "xoxb-1"\napp_token = "xapp-1"\n'
        '[discord]\nenabled = true\ntoken = "discord-token"\n',
    )
    app = await build_app(config)
    try:
        assert [p.section for p in PLATFORMS] == ["slack", "discord"]
        for platform in PLATFORMS:
            assert platform.enabled(config), platform.name
            chat = platform.build(config, app, None)
            try:
                assert isinstance(chat, ChatPlatform), platform.name
                assert isinstance(chat.describe(), str)
                assert chat.describe().startswith(f"{platform.name}: ")
                assert chat.messenger.platform == platform.section
            finally:
                await chat.stop(0.0)
    finally:
        await app.aclose()


def test_a_disabled_platform_names_its_setting() -> None:
    assert [p.disabled for p in PLATFORMS] == [
        "Slack: [slack] enabled = false",
        "Discord: [discord] enabled = false",
    ]
    assert sections(PLATFORMS) == "[slack] or [discord]"


async def test_run_starts_what_the_registry_lists_and_says_what_is_off(app: App) -> None:
    on, off = Built(), Built()
    platforms = (
        Platform("Fake", "fake", lambda config: True, on),
        Platform("Teams", "teams", lambda config: False, off),
    )
    running = Running()
    http = HttpServer(app.engine, Metrics(), "127.0.0.1", 0)
    membership = Membership(InstanceRegistry(app.engine.database, "test", ttl_s=30), Metrics())

    await _start_platforms(platforms, app.config, app, http, running, membership)

    [chat] = on.chats
    assert not off.chats
    assert chat.calls == ["start"]
    assert chat.membership is membership
    assert running.started == ["Fake: listening"]
    assert running.missing == ["Teams: [teams] enabled = false"]
    assert running.messengers == [chat.messenger]
    assert [name for name, _ in running.stops] == ["Fake"]
    assert [route.path for route in http.extra_routes] == ["/fake/events"]
    assert [check() for check in http.readiness] == [("fake", True)]
    for hand_over in running.hand_over:
        await hand_over()
    await running.stops[0][1](2.5)
    assert chat.calls == ["start", "hand_over", "stop(2.5)"]


async def test_run_with_every_platform_off_names_each_setting(app: App) -> None:
    platforms = (
        Platform("Fake", "fake", lambda config: False, Built()),
        Platform("Teams", "teams", lambda config: False, Built()),
    )
    running = Running()
    http = HttpServer(app.engine, Metrics(), "127.0.0.1", 0)
    membership = Membership(InstanceRegistry(app.engine.database, "test", ttl_s=30), Metrics())

    await _start_platforms(platforms, app.config, app, http, running, membership)

    assert running.missing == [
        "Fake: [fake] enabled = false",
        "Teams: [teams] enabled = false",
        "no chat adapter is enabled: set [fake] or [teams] enabled = true "
        "(or use `byok-bot console`)",
    ]


async def test_digest_send_now_starts_enabled_platforms_only_for_sending(tmp_path: Path) -> None:
    on, off = Built(), Built()
    platforms = (
        Platform("Fake", "fake", lambda config: True, on),
        Platform("Teams", "teams", lambda config: False, off),
    )
    async with _messengers(_config(tmp_path), platforms) as messengers:
        [chat] = on.chats
        assert messengers == [chat.messenger]
        assert chat.calls == ["start_for_sending"]
        assert chat.membership is None
    assert chat.calls == ["start_for_sending", "stop(10.0)"]
    assert not off.chats


def test_run_and_the_cli_take_platforms_from_the_registry_alone() -> None:
    assert inspect.signature(adapters.run.run_bot).parameters["platforms"].default is PLATFORMS
    assert inspect.signature(_messengers).parameters["platforms"].default is PLATFORMS
    for module in (adapters.run, adapters.cli):
        source = Path(inspect.getfile(module)).read_text()
        imported = {
            node.module or ""
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom)
        } | {
            alias.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        platform_packages = {
            name for name in imported if name.startswith(("adapters.slack", "adapters.discord"))
        }
        assert not platform_packages, (module.__name__, platform_packages)
        assert not imported & {"slack_bolt", "slack_sdk", "discord"}, module.__name__


def test_start_error_is_still_importable_from_run() -> None:
    assert adapters.run.StartError is StartError
