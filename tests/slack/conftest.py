"""A SlackAdapter on the real engine (fake LLM providers) and a fake Slack on loopback.

Tests send real, signed Slack payloads into the real slack-bolt AsyncApp
(``app.async_dispatch``, as bolt's own tests do, or through the aiohttp route) and read
the Web API calls the fake Slack recorded. ``process_before_response=True`` makes
dispatch return once the listener has acknowledged Slack and handed its slow work to the
adapter; ``await slack.settle()`` waits for that work.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from adapters.slack import SlackAdapter, SlackOptions
from bot.config import SlackSettings
from bot.context import BotContext
from bot.dispatch import Dispatcher
from tests.engine.conftest import MakeRig, Rig, make_rig, rig  # noqa: F401 - fixtures
from tests.fakes.fake_slack import FakeSlack

__all__ = ["SlackRig", "assert_nowhere", "serve"]

TEAM, USER, CHANNEL = "T111", "U111", "C111"


@dataclass
class SlackRig:
    adapter: SlackAdapter
    fake: FakeSlack
    rig: Rig
    signing_secret: str
    bot_token: str
    ts: Any = field(default_factory=lambda: iter(range(1, 10_000)))

    # -- signed requests ----------------------------------------------------------------

    def request(
        self, body: str, content_type: str, *, timestamp: int | None = None
    ) -> AsyncBoltRequest:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=stamp, body=body
        )
        assert signature is not None
        headers: dict[str, str | Sequence[str]] = {
            "content-type": content_type,
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature,
        }
        return AsyncBoltRequest(body=body, headers=headers)

    async def dispatch(self, body: str, content_type: str) -> BoltResponse:
        return await self.adapter.app.async_dispatch(self.request(body, content_type))

    async def command(
        self,
        name: str,
        text: str = "",
        *,
        channel: str = CHANNEL,
        channel_name: str = "general",
        user: str = USER,
        team: str = TEAM,
    ) -> BoltResponse:
        payload = command_payload(self.fake, name, text, channel, channel_name, user)
        body = urlencode({**payload, "team_id": team})
        return await self.dispatch(body, "application/x-www-form-urlencoded")

    async def payload(self, payload: dict[str, Any]) -> BoltResponse:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.dispatch(body, "application/x-www-form-urlencoded")

    async def event(self, event: dict[str, Any], *, team: str = TEAM) -> BoltResponse:
        body = {
            "type": "event_callback",
            "team_id": team,
            "api_app_id": "A111",
            "event_id": f"Ev{next(self.ts)}",
            "event_time": 1,
            "event": event,
        }
        return await self.dispatch(json.dumps(body), "application/json")

    async def view_submission(
        self, view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str = USER
    ) -> BoltResponse:
        state = {"values": {block: {"value": value} for block, value in values.items()}}
        submitted = {**view, "state": state, "hash": "1.abc"}
        return await self.payload(
            {
                "type": "view_submission",
                "team": {"id": TEAM},
                "user": {"id": user},
                "api_app_id": "A111",
                "trigger_id": "1.2.3",
                "view": submitted,
            }
        )

    async def block_action(self, action: dict[str, Any], *, user: str = USER) -> BoltResponse:
        return await self.payload(
            {
                "type": "block_actions",
                "team": {"id": TEAM},
                "user": {"id": user},
                "api_app_id": "A111",
                "trigger_id": "4.5.6",
                "container": {"type": "view", "view_id": "VHOME"},
                "view": {"id": "VHOME", "type": "home"},
                "actions": [{"block_id": "b", "action_ts": "1.1", **action}],
            }
        )

    async def settle(self) -> None:
        await self.adapter.drain()

    def last_view(self) -> dict[str, Any]:
        """The view last opened, as Slack holds it (with its id)."""
        return self.fake.opened[-1]

    async def add_key(self, provider: str = "openai") -> str:
        return await self.rig.add_key(provider)


def command_payload(
    fake: FakeSlack, name: str, text: str, channel: str, channel_name: str, user: str
) -> dict[str, str]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": "alice",
        "command": name,
        "text": text,
        "api_app_id": "A111",
        "response_url": fake.response_url(),
        "trigger_id": f"{secrets.randbelow(10**6)}.1.abc",
    }


MakeSlack = Callable[..., Awaitable[SlackRig]]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def make_slack(
    make_rig: MakeRig,  # noqa: F811 - the fixture
    fake_slack: FakeSlack,
) -> AsyncIterator[MakeSlack]:
    adapters: list[SlackAdapter] = []

    async def make(
        *,
        rig_overrides: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        installations: Any = None,
        process_before_response: bool = True,
        **options: Any,
    ) -> SlackRig:
        engine_rig = await make_rig(**(rig_overrides or {}))
        if callable(installations):
            installations = installations(engine_rig)
        context = BotContext(
            engine_rig.engine,
            max_transcript_chars=20_000,
            summary_part_tokens=2000,
            summary_output_tokens=400,
        )
        bot_token = "xoxb-" + secrets.token_hex(12)
        signing_secret = secrets.token_hex(16)
        values: dict[str, Any] = {
            "enabled": True,
            "mode": "http",
            "bot_token": SecretStr(bot_token),
            "signing_secret": SecretStr(signing_secret),
            "api_url": fake_slack.api_url,
            **(settings or {}),
        }
        adapter = SlackAdapter(
            Dispatcher(context),
            SlackSettings(**values),
            installations=installations,
            options=SlackOptions(**{"interval": 0.0, **options}),
            process_before_response=process_before_response,
        )
        adapters.append(adapter)
        return SlackRig(adapter, fake_slack, engine_rig, signing_secret, bot_token)

    yield make
    for adapter in adapters:
        await adapter.stop(grace_s=5)


@pytest.fixture
async def slack(make_slack: MakeSlack, caplog: pytest.LogCaptureFixture) -> SlackRig:
    caplog.set_level(logging.DEBUG)
    return await make_slack()


@asynccontextmanager
async def serve(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    """The routes on a loopback aiohttp server (port 0); yields its base URL."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def assert_nowhere(
    secret: str, fake: FakeSlack, caplog: pytest.LogCaptureFixture, *extra: str
) -> None:
    """``secret`` is in no request the fake Slack saw, no log line, and none of ``extra``."""
    for request in fake.requests:
        assert secret not in request.url
        assert secret.encode() not in request.body
        assert all(secret not in value for value in request.headers.values())
    for message in fake.socket_messages:
        assert secret not in json.dumps(message)
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()
    for text in extra:
        assert secret not in text
