"""Socket Mode: the real socket client on a loopback WebSocket, acknowledging over it."""

from __future__ import annotations

import secrets

import pytest
from pydantic import SecretStr

from tests.slack.conftest import CHANNEL, USER, MakeSlack, command_payload


async def test_socket_mode_connects_acknowledges_and_answers(make_slack: MakeSlack) -> None:
    app_token = "xapp-" + secrets.token_hex(12)
    slack = await make_slack(settings={"mode": "socket", "app_token": SecretStr(app_token)})
    fake = slack.fake

    await slack.adapter.start()
    await fake.socket_connected.wait()
    (opened,) = fake.calls_to("apps.connections.open")
    assert opened.token == app_token
    assert slack.adapter.readiness() == ("slack", True)

    payload = command_payload(fake, "/byok", "list", CHANNEL, "general", USER)
    envelope = await fake.send_envelope("slash_commands", payload)
    ack = await fake.envelope_ack(envelope)
    await fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"))
    await slack.settle()

    assert ack == {"envelope_id": envelope}
    (reply,) = fake.calls_to("chat.postEphemeral")
    assert reply.token == slack.bot_token and "no keys yet" in str(reply.args["blocks"])

    await slack.adapter.stop()
    assert slack.adapter.readiness() == ("slack", False)


async def test_socket_mode_needs_no_signing_secret(make_slack: MakeSlack) -> None:
    slack = await make_slack(
        settings={
            "mode": "socket",
            "app_token": SecretStr("xapp-" + secrets.token_hex(8)),
            "signing_secret": None,
        }
    )
    assert slack.adapter.routes() == []


async def test_a_refused_bot_token_stops_the_start_with_a_clear_message(
    make_slack: MakeSlack,
) -> None:
    slack = await make_slack(settings={"bot_token": SecretStr("not-a-bot-token")})

    with pytest.raises(RuntimeError, match=r"Slack refused the bot token \(invalid_auth\)"):
        await slack.adapter.start()
