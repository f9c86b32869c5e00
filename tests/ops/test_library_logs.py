"""No library writes a request or response body that can hold a key, at any log level.

Slack HTTP mode refuses a request whose signature check fails (clock skew, a rotated or
mistyped signing secret, a late retry); slack-bolt logs such a request *with its raw
body*, and a key form's body is the key, URL-encoded. These tests submit key forms that
fail the check, and forms that pass it, to the real ``byok-bot run`` at DEBUG level, and
look for the key in every form it can take in what the process wrote: raw, URL-encoded
(``quote``, ``quote_plus``), JSON-escaped, and without its vendor prefix.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import aiohttp
import pytest
from slack_bolt.middleware.request_verification.async_request_verification import (
    AsyncRequestVerification,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import LogRedactor, strip_library_body
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.loopback import Fault
from tests.ops.conftest import TEAM, Deployment, slack_user
from tests.ops.harness import ROOT, BotProcess, idle


def canary_keys() -> dict[str, str]:
    """Fresh keys holding ``+ / =``: one with a vendor prefix, one with none at all."""

    def body() -> str:
        return secrets.token_urlsafe(18) + "+/" + secrets.token_urlsafe(18) + "/+="

    return {"prefixed": "sk-proj-" + body(), "prefix-less": body()}


def encodings(key: str) -> dict[str, str]:
    """Every form in which a key can reach a log line."""
    remainder = key.removeprefix("sk-proj-")
    forms: dict[str, str] = {}
    for name, value in (("key", key), ("remainder", remainder)):
        forms[f"{name} raw"] = value
        forms[f"{name} quote"] = quote(value)
        forms[f"{name} quote safe=''"] = quote(value, safe="")
        forms[f"{name} quote_plus"] = quote_plus(value)
        forms[f"{name} JSON \\/"] = value.replace("/", "\\/")
        forms[f"{name} JSON \\u"] = "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in value)
    # Any piece between the characters that encoders change, in case only some were masked.
    for number, piece in enumerate(re.split(r"[+/=]+", remainder)):
        if len(piece) >= 12:
            forms[f"piece {number}"] = piece
    return forms


def key_form_body(provider: str, key: str, user: str) -> str:
    """The body Slack posts when a user submits the ``/byok add`` key form."""
    values = {
        "provider": {"value": {"type": "static_select", "selected_option": {"value": provider}}},
        "key": {"value": {"type": "plain_text_input", "value": key}},
    }
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "A111",
        "trigger_id": f"{time.monotonic_ns()}.1.abc",
        "view": {
            "id": f"V{time.monotonic_ns()}",
            "type": "modal",
            "callback_id": "byok_add_key",
            "private_metadata": json.dumps({"team": TEAM, "channel": "D111"}),
            "state": {"values": values},
            "hash": "1.abc",
        },
    }
    return urlencode({"payload": json.dumps(payload)})


async def post_signed(bot: BotProcess, body: str, signing_secret: str, stamp: int) -> int:
    """Posts ``body`` to ``/slack/events`` signed with ``signing_secret`` at ``stamp``."""
    signature = SignatureVerifier(signing_secret).generate_signature(
        timestamp=str(stamp), body=body
    )
    assert signature is not None
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": signature,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(bot.url + "/slack/events", data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


def leaks(output: str, keys: dict[str, str]) -> list[str]:
    return [
        f"{name} ({form})"
        for name, key in keys.items()
        for form, value in encodings(key).items()
        if value in output
    ]


async def test_a_key_form_failing_the_signature_check_leaves_no_trace_of_the_key(
    deployment: Deployment,
) -> None:
    keys = canary_keys()
    sections = deployment.settings()
    sections["logging"]["level"] = "DEBUG"  # the most verbose the bot has
    bot = await deployment.start(deployment.write(sections))

    now = int(time.time())
    stale = now - 6 * 60  # beyond Slack's five minutes: clock skew, a late retry
    wrong_secret = secrets.token_hex(16)  # a rotated or mistyped signing secret
    for key in keys.values():
        body = key_form_body("openai", key, "U111")
        assert await post_signed(bot, body, deployment.signing_secret, stale) == 401
        assert await post_signed(bot, body, wrong_secret, now) == 401
    assert await bot.stop() == 0  # all it wrote is read

    assert not leaks(bot.output, keys), f"leaked: {leaks(bot.output, keys)}"
    assert any("signature" in line for line in bot.lines)  # the refusals were said


async def test_asks_through_the_provider_sdks_at_debug_log_neither_key_nor_prompt(
    deployment: Deployment,
) -> None:
    """The official SDKs (openai, anthropic, google-genai) log request options, bodies
    and headers at DEBUG; none of it reaches the output. The keys are shaped like an
    operator endpoint's (no vendor prefix), so only the process's memory of them can
    mask them where they are echoed back (a provider refusing one)."""
    providers = ("openai", "anthropic", "google")
    keys = {pid: canary_keys()["prefix-less"] for pid in providers}
    for pid, key in keys.items():
        fake = deployment.fakes[pid]
        fake.valid_key = fake.add_key(key)
    prompt = "remember " + secrets.token_hex(12)  # stands for whatever a user may paste
    sections = deployment.settings()
    sections["logging"]["level"] = "DEBUG"
    config = deployment.write(sections)
    await deployment.seed([(slack_user("U111"), pid, None) for pid in providers], config)
    bot = await deployment.start(config)

    for pid, key in keys.items():
        assert await deployment.sender.command(bot, "/ask", f"--provider {pid} {prompt}") == 200
        body = urlencode({"error": {"message": f"Incorrect API key {key}"}})
        deployment.fakes[pid].inject(Fault("http", status=400, message=f"bad {key} {body}"))
        assert await deployment.sender.command(bot, "/ask", f"--provider {pid} {prompt}") == 200
    await idle(bot, commands=2 * len(providers))
    assert await bot.stop() == 0

    assert not leaks(bot.output, keys), f"leaked: {leaks(bot.output, keys)}"
    assert prompt not in bot.output
    assert bot.has("anthropic._base_client: Request options: <body omitted>")  # it ran


@pytest.fixture
def debug_output() -> Iterator[io.StringIO]:
    """What the root handler writes at DEBUG, through the filter ``byok-bot`` installs."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.addFilter(LogRedactor())
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_slack_bolt_keeps_its_signature_failure_line_without_the_body(
    debug_output: io.StringIO,
) -> None:
    """slack-bolt's own check, as it runs where nothing checks a request before it."""
    key = canary_keys()["prefix-less"]  # never met by this process: no memory masks it
    body = key_form_body("openai", key, "U111")
    stamp = str(int(time.time()) - 6 * 60)
    request = AsyncBoltRequest(
        body=body,
        headers={"x-slack-request-timestamp": stamp, "x-slack-signature": "v0=00"},
    )

    async def unreachable() -> BoltResponse:
        raise AssertionError("a request failing its signature check went on")

    verification = AsyncRequestVerification(signing_secret=secrets.token_hex(16))
    response = await verification.async_process(
        req=request, resp=BoltResponse(status=200), next=unreachable
    )

    assert response.status == 401
    lines = [line for line in debug_output.getvalue().splitlines() if "signature" in line]
    assert lines == [
        "slack_bolt.RequestVerification: Invalid request signature detected "
        f"(signature: v0=00, timestamp: {stamp}, body: <body omitted>)"
    ]


async def test_slack_sdk_logs_web_api_calls_without_their_bodies(
    fake_slack: FakeSlack, debug_output: io.StringIO
) -> None:
    key = canary_keys()["prefix-less"]
    client = AsyncWebClient(token="xoxb-" + secrets.token_hex(20), base_url=fake_slack.api_url)

    await client.chat_postMessage(channel="D111", text=f"your key {key}")

    output = debug_output.getvalue()
    assert not leaks(output, {"key": key})
    lines = output.splitlines()
    assert f"url: POST {fake_slack.api_url}chat.postMessage, <body omitted>" in lines[0]
    assert lines[1].endswith("Received the following response - status: 200, <body omitted>")


def _library_record(msg: str, *args: object) -> logging.LogRecord:
    """A record as a library under site-packages makes it."""
    return logging.makeLogRecord(
        {"name": "discord.http", "msg": msg, "args": args, "pathname": logging.__file__}
    )


def test_discord_payloads_and_any_library_body_are_left_out() -> None:
    key = canary_keys()["prefix-less"]
    sent = _library_record(
        "%s %s with %s has returned %s", "POST", "/interactions/1/t/callback", {"k": key}, 204
    )
    unknown = _library_record("Retrying, request data: %r", {"key": key})
    for record in (sent, unknown):
        strip_library_body(record)
    assert (
        sent.getMessage() == "POST /interactions/1/t/callback with <body omitted> has returned 204"
    )
    assert unknown.getMessage() == "Retrying, request data: <body omitted>"


def test_our_own_lines_are_not_cut() -> None:
    record = logging.getLogger("byok.test").makeRecord(
        "byok.test", logging.INFO, __file__, 1, "slack: the body: %s", ("kept",), None
    )
    record.pathname = str(ROOT / "bot" / "dispatch.py")
    strip_library_body(record)
    assert record.getMessage() == "slack: the body: kept"


def test_a_gateway_event_stripped_by_two_filters_keeps_its_summary() -> None:
    """discord.py's loggers and the root handler both strip: the second pass changes nothing."""
    key = canary_keys()["prefix-less"]
    event = {"op": 0, "t": "MESSAGE_CREATE", "s": 7, "d": {"content": key}}
    record = _library_record("For Shard ID %s: WebSocket Event: %s", None, event)
    strip_library_body(record)
    strip_library_body(record)
    assert record.getMessage() == (
        "For Shard ID None: WebSocket Event: <body omitted; {'op': 0, 't': 'MESSAGE_CREATE', 's': 7}>"
    )
