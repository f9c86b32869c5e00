"""HTTP mode: /slack/events behind the bot's HTTP server, signatures checked."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.slack.conftest import CHANNEL, USER, SlackRig, command_payload, serve


async def _post(
    url: str, slack: SlackRig, body: str, *, timestamp: int, secret: str | None = None
) -> aiohttp.ClientResponse:
    signer = SlackRig(slack.adapter, slack.fake, slack.rig, secret or slack.signing_secret, "")
    signed = signer.request(body, "application/x-www-form-urlencoded", timestamp=timestamp)
    headers = {name: str(signed.headers[name][0]) for name in signed.headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/slack/events", data=body, headers=headers) as response,
    ):
        await response.read()
        return response


async def test_a_signed_slash_command_through_the_http_route(slack: SlackRig) -> None:
    body = urlencode(command_payload(slack.fake, "/help", "", CHANNEL, "general", USER))
    async with serve(slack.adapter.routes()) as url:
        response = await _post(url, slack, body, timestamp=int(time.time()))
        await slack.settle()

    assert response.status == 200
    (help_reply,) = slack.fake.calls_to("chat.postEphemeral")
    assert "bring your own keys" in str(help_reply.args["blocks"])


@pytest.mark.parametrize("problem", ["wrong secret", "stale"])
async def test_requests_with_a_bad_or_stale_signature_are_rejected(
    slack: SlackRig, problem: str
) -> None:
    body = urlencode(command_payload(slack.fake, "/help", "", CHANNEL, "general", USER))
    stamp = int(time.time()) - (600 if problem == "stale" else 0)
    secret = "not-the-secret" if problem == "wrong secret" else None
    async with serve(slack.adapter.routes()) as url:
        response = await _post(url, slack, body, timestamp=stamp, secret=secret)
        await slack.settle()

    assert response.status == 401
    assert not slack.fake.calls


async def test_http_mode_routes_are_only_the_events_endpoint_without_oauth(slack: SlackRig) -> None:
    assert [r.path for r in slack.adapter.routes()] == ["/slack/events"]
    assert slack.adapter.readiness() == ("slack", True)
