"""Malformed HTTP at the real ``byok-bot run`` process: a 4xx, never a traceback.

Anyone who can reach the port can send these, as fast as they like, so each kind of
problem is logged as one WARNING line at most (a minute), whatever the number sent.
Requests go out as raw bytes or through aiohttp, signed with the deployment's signing
secret where the test says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections import Counter
from urllib.parse import urlencode

import aiohttp

from tests.ops.conftest import Deployment
from tests.ops.harness import WAIT, BotProcess, idle

REPEATS = 3  # each bad request is sent this often: its warning still appears once
FORM = "application/x-www-form-urlencoded"


def _signed(secret: str, body: bytes, content_type: str = FORM) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
    }


def _payload(secret: str, payload: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": payload}).encode()
    return body, _signed(secret, body)


def _event(secret: str, envelope: object) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(envelope).encode()
    return body, _signed(secret, body, "application/json")


def _bad_slack_requests(secret: str) -> dict[str, tuple[int, bytes, dict[str, str]]]:
    """Name: (expected status, body, headers)."""
    stale = b"token=x&command=%2Fhelp&user_id=U1&channel_id=C1"
    non_numeric = {**_signed(secret, stale), "X-Slack-Request-Timestamp": "12abc"}
    huge_stamp = {**_signed(secret, stale), "X-Slack-Request-Timestamp": "9" * 5000}
    not_utf8 = b"payload=\xff\xfe\xfd"
    user = {"id": "U1"}
    return {
        "non-numeric timestamp": (401, stale, non_numeric),
        "5000-digit timestamp": (401, stale, huge_stamp),
        "unsigned": (401, stale, {"Content-Type": FORM}),
        "wrong signature": (401, stale, _signed("not-the-secret", stale)),
        "non-UTF-8 body": (400, not_utf8, _signed(secret, not_utf8)),
        "payload not JSON": (400, *_payload(secret, "{not json")),
        "payload a JSON list": (400, *_payload(secret, "[1, 2]")),
        "payload a JSON string": (400, *_payload(secret, '"block_actions"')),
        "payload without type": (400, *_payload(secret, "{}")),
        "payload with a numeric type": (400, *_payload(secret, '{"type": 5}')),
        "team a number": (
            400,
            *_payload(secret, json.dumps({"type": "block_actions", "team": 5, "user": user})),
        ),
        "actions a string": (
            400,
            *_payload(secret, json.dumps({"type": "block_actions", "user": user, "actions": "x"})),
        ),
        "view a string": (
            400,
            *_payload(secret, json.dumps({"type": "view_submission", "user": user, "view": "x"})),
        ),
        "view values a list": (
            400,
            *_payload(
                secret,
                json.dumps(
                    {
                        "type": "view_submission",
                        "user": user,
                        "view": {"id": "V1", "state": {"values": []}},
                    }
                ),
            ),
        ),
        "shortcut without user": (400, *_payload(secret, '{"type": "message_action"}')),
        "event a string": (400, *_event(secret, {"type": "event_callback", "event": "x"})),
        "event text a number": (
            400,
            *_event(
                secret,
                {"type": "event_callback", "event": {"type": "app_mention", "text": 7}},
            ),
        ),
        "JSON body a list": (400, *_event(secret, [1, 2])),
        "command without user": (
            400,
            b"command=%2Fhelp&channel_id=C1",
            _signed(secret, b"command=%2Fhelp&channel_id=C1"),
        ),
        "a type nothing listens to": (404, *_payload(secret, '{"type": "no_such_type"}')),
    }


def _new_lines(bot: BotProcess, since: int) -> list[str]:
    return bot.lines[since:]


def _assert_quiet(lines: list[str], *, most_warnings: int) -> None:
    """No traceback, no ERROR, and no WARNING repeated (each kind said once)."""
    text = "\n".join(lines)
    assert "Traceback" not in text, text
    assert not [line for line in lines if " ERROR " in line], text
    warnings = [re.sub(r"^\S+ \S+ ", "", line) for line in lines if " WARNING " in line]
    repeated = [w for w, n in Counter(warnings).items() if n > 1]
    assert not repeated, text
    assert len(warnings) <= most_warnings, text


async def test_bad_requests_to_slack_events_get_400_or_401_and_one_warning_per_kind(
    deployment: Deployment,
) -> None:
    bot = await deployment.start()
    before = len(bot.lines)
    cases = _bad_slack_requests(deployment.signing_secret)
    statuses: dict[str, list[int]] = {}
    async with aiohttp.ClientSession() as session:
        for name, (_, body, headers) in cases.items():
            for _ in range(REPEATS):
                async with session.post(
                    bot.url + "/slack/events", data=body, headers=headers
                ) as response:
                    await response.read()
                    statuses.setdefault(name, []).append(response.status)
    # The bot still serves Slack after all that.
    assert await deployment.sender.command(bot, "/help", "") == 200
    await idle(bot, commands=1)
    assert await bot.stop() == 0

    assert statuses == {name: [status] * REPEATS for name, (status, _, _) in cases.items()}
    lines = _new_lines(bot, before)
    # unsigned, bad timestamp, bad signature, not UTF-8, malformed payload, unhandled
    _assert_quiet(lines, most_warnings=6)
    refused = [line for line in lines if "refused a request to /slack/events" in line]
    assert any("not a number" in line for line in refused)
    assert any("not UTF-8" in line for line in refused)
    assert any("signing_secret" in line for line in refused)
    assert any("payload" in line for line in refused)


def _raw_requests() -> dict[str, bytes]:
    host = b"Host: bot\r\nConnection: close\r\n"
    return {
        "a 100 kB header": b"GET /healthz HTTP/1.1\r\n"
        + host
        + b"X-Big: "
        + b"a" * 100_000
        + b"\r\n\r\n",
        "a 20 kB request line": b"GET /metrics?"
        + b"q" * 20_000
        + b" HTTP/1.1\r\n"
        + host
        + b"\r\n",
        "a method with symbols": b"G@T /healthz HTTP/1.1\r\n" + host + b"\r\n",
        "an unknown method": b"BREW /readyz HTTP/1.1\r\n" + host + b"\r\n",
        "HTTP/9.9": b"GET /readyz HTTP/9.9\r\n" + host + b"\r\n",
        "binary noise": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        "a negative Content-Length": (
            b"POST /slack/events HTTP/1.1\r\n" + host + b"Content-Length: -1\r\n\r\n"
        ),
        "a broken chunked body": (
            b"POST /slack/events HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nabc\r\n0\r\n\r\n"
        ),
        "a byte 0xff in the query": b"GET /api/byok/providers?\xff HTTP/1.1\r\n" + host + b"\r\n",
        "a bad escape in the path": b"GET /%zz/healthz HTTP/1.1\r\n" + host + b"\r\n",
        "a header without a colon": b"GET /healthz HTTP/1.1\r\n" + host + b"NoColon\r\n\r\n",
    }


async def _send_raw(port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()
    status = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    assert status is not None, answer[:200]
    return int(status.group(1))


async def test_malformed_http_to_every_route_gets_a_4xx_without_a_traceback(
    deployment: Deployment,
) -> None:
    sections = deployment.settings()
    sections["slack"] |= {"client_id": "111.222", "client_secret": "s3cr3t-of-the-test"}
    bot = await deployment.start(deployment.write(sections))
    before = len(bot.lines)
    assert bot.port is not None
    for name, request in _raw_requests().items():
        for _ in range(REPEATS):
            status = await _send_raw(bot.port, request)
            assert 400 <= status < 500, (name, status)
    odd_queries = ("?%ff%fe=%00", "?a=1&a=2&&;=;", "?x=" + "%" * 1000, "?state=" + "s" * 4000)
    routes = ("/healthz", "/readyz", "/metrics", "/api/byok/providers")
    oauth = ("/slack/install", "/slack/oauth_redirect")
    async with aiohttp.ClientSession() as session:
        for path in (*routes, *oauth):
            for query in odd_queries:
                async with session.get(bot.url + path + query) as response:
                    await response.read()
                    expected = {200} if path in routes else {200, 400, 401, 403}
                    assert response.status in expected, (path, query, response.status)
            for method in ("PUT", "DELETE", "PATCH"):
                async with session.request(method, bot.url + path) as response:
                    assert response.status == 405, (path, method)
    assert await bot.stop() == 0
    lines = _new_lines(bot, before)
    _assert_quiet([line for line in lines if "Installation" not in line], most_warnings=2)
    assert sum("malformed request" in line for line in lines) == 1
