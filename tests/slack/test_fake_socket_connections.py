"""The fake Slack's Socket Mode with several connections, as Slack serves several instances.

The clients are slack-sdk's own ``SocketModeClient`` (aiohttp, the one bolt's async
handler runs), unmodified: Slack hands each envelope to one of an app's connections,
sends an unacknowledged Events API envelope again with ``retry_attempt``/``retry_reason``,
refuses an eleventh connection with ``too_many_websockets`` and asks a client to move with
a ``disconnect`` message.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.fake_slack import Delivery, FakeSlack

WAIT = 10.0  # seconds: a bound for awaiting what the fake records, never a pause


class Instance:
    """One bot instance's Socket Mode client; it acknowledges what it gets unless told not to."""

    def __init__(self, fake: FakeSlack, app_token: str, *, acks: bool = True) -> None:
        self.client = SocketModeClient(
            app_token=app_token, web_client=AsyncWebClient(base_url=fake.api_url)
        )
        self.acks = acks
        self.got: list[SocketModeRequest] = []
        self.client.socket_mode_request_listeners.append(self._on_request)

    async def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        self.got.append(request)
        if self.acks:
            response = SocketModeResponse(envelope_id=request.envelope_id)
            await client.send_socket_mode_response(response)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.ack_timeout = 1.0  # generous: a bot's ack never misses it
        yield fake


@pytest.fixture
async def instances(fake: FakeSlack) -> AsyncIterator[Callable[..., Any]]:
    """Starts connected instances (one app token, as N copies of one bot); closes them."""
    app_token = "xapp-1-A111-" + secrets.token_hex(8)
    async with AsyncExitStack() as stack:

        async def start(count: int, *, acks: tuple[bool, ...] = ()) -> list[Instance]:
            started = []
            for index in range(count):
                instance = Instance(fake, app_token, acks=acks[index] if acks else True)
                wanted = len(fake.open_connections) + 1
                await instance.client.connect()  # type: ignore[no-untyped-call]
                stack.push_async_callback(instance.client.close)
                await fake.wait_for(connected(fake, wanted), WAIT)
                started.append(instance)
            return started

        yield start


def connected(fake: FakeSlack, count: int) -> Callable[[], bool]:
    return lambda: len(fake.open_connections) >= count


async def until(condition: Callable[[], Any], what: str) -> None:
    """A bounded wait for what a client recorded."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - a bounded poll on recorded state
            await asyncio.sleep(0.01)
    assert condition(), what


def event_payload(text: str) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": FakeSlack.team_id,
        "event_id": "Ev" + secrets.token_hex(4),
        "event": {"type": "app_mention", "user": "U123", "text": text, "channel": "C111"},
    }


def acked_ids(fake: FakeSlack) -> list[str]:
    return [m["envelope_id"] for m in fake.socket_messages if "envelope_id" in m]


@pytest.mark.slow
async def test_envelopes_spread_over_the_open_connections_each_acked_once(
    fake: FakeSlack, instances: Callable[..., Any]
) -> None:
    first, second = await instances(2)
    assert [c.index for c in fake.open_connections] == [0, 1]
    assert len(fake.calls_to("apps.connections.open")) == 2

    sent = [await fake.send_envelope("events_api", event_payload(f"m{i}")) for i in range(6)]
    await fake.wait_for(lambda: set(sent) <= set(acked_ids(fake)), WAIT)
    await fake.retries_settled()

    assert sorted(acked_ids(fake)) == sorted(sent)  # each acked once, none sent again
    assert [d.attempt for d in fake.deliveries] == [0] * 6
    assert {d.connection for d in fake.deliveries} == {0, 1}
    assert len(first.got) == len(second.got) == 3
    got = [r.envelope_id for r in first.got + second.got]
    assert sorted(got) == sorted(sent)
    assert all(r.retry_attempt == 0 and r.retry_reason == "" for r in first.got + second.got)


async def test_each_connection_gets_a_fresh_url_and_a_hello_counting_the_open_ones(
    fake: FakeSlack,
) -> None:
    web = AsyncWebClient(base_url=fake.api_url)
    token = "xapp-1-A111-" + secrets.token_hex(8)
    urls = [(await web.apps_connections_open(app_token=token))["url"] for _ in range(2)]
    assert urls[0] != urls[1]
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(urls[0])
        second = await http.ws_connect(urls[1])
        hellos = [await s.receive_json(timeout=WAIT) for s in (first, second)]
        assert [h["type"] for h in hellos] == ["hello", "hello"]
        assert [h["num_connections"] for h in hellos] == [1, 2]
        await first.close()
        await second.close()
    await fake.wait_for(lambda: not fake.open_connections, WAIT)
    assert not fake.socket_connected.is_set()


async def test_an_unacked_event_is_sent_again_to_another_connection_with_retry_fields(
    fake: FakeSlack, instances: Callable[..., Any]
) -> None:
    fake.ack_timeout = 0.2
    silent, acking = await instances(2, acks=(False, True))
    sent = await fake.send_envelope("events_api", event_payload("hello"))
    await fake.retries_settled()

    first, retry = fake.deliveries
    assert first == Delivery(sent, sent, connection=0, attempt=0)
    assert (retry.sent_as, retry.connection, retry.attempt) == (sent, 1, 1)
    assert retry.envelope_id != sent  # a retry is a new envelope
    [original] = silent.got
    [again] = acking.got
    assert (original.retry_attempt, original.retry_reason) == (0, "")
    assert (again.retry_attempt, again.retry_reason) == (1, "timeout")
    assert again.payload == original.payload
    assert acked_ids(fake) == [retry.envelope_id]


async def test_an_event_nobody_acks_is_retried_three_times_then_dropped(
    fake: FakeSlack, instances: Callable[..., Any]
) -> None:
    fake.ack_timeout = 0.2
    await instances(2, acks=(False, False))
    sent = await fake.send_envelope("events_api", event_payload("hello"))
    await fake.retries_settled()
    assert [(d.attempt, d.sent_as) for d in fake.deliveries] == [(i, sent) for i in range(4)]
    assert len({d.envelope_id for d in fake.deliveries}) == 4


async def test_interactive_envelopes_are_not_retried(
    fake: FakeSlack, instances: Callable[..., Any]
) -> None:
    [silent] = await instances(1, acks=(False,))
    await fake.send_envelope("slash_commands", {"command": "/byok", "text": "list"})
    await until(lambda: silent.got, "the command arrived")
    await fake.retries_settled()
    assert len(fake.deliveries) == 1 and len(silent.got) == 1
    assert silent.got[0].retry_attempt is None  # no retry fields outside the Events API


async def test_an_eleventh_connection_is_told_too_many_websockets_and_closed(
    fake: FakeSlack,
) -> None:
    web = AsyncWebClient(base_url=fake.api_url)
    token = "xapp-1-A111-" + secrets.token_hex(8)
    async with aiohttp.ClientSession() as http:
        sockets = []
        for _ in range(FakeSlack.max_connections):
            url = (await web.apps_connections_open(app_token=token))["url"]
            socket = await http.ws_connect(url)
            assert (await socket.receive_json(timeout=WAIT))["type"] == "hello"
            sockets.append(socket)
        assert len(fake.open_connections) == 10

        url = (await web.apps_connections_open(app_token=token))["url"]
        eleventh = await http.ws_connect(url)
        refusal = await eleventh.receive_json(timeout=WAIT)
        assert refusal["type"] == "disconnect" and refusal["reason"] == "too_many_websockets"
        assert (await eleventh.receive(timeout=WAIT)).type == aiohttp.WSMsgType.CLOSE
        assert len(fake.open_connections) == 10 and fake.connections[10].refused

        await sockets[0].close()
        await fake.wait_for(lambda: len(fake.open_connections) == 9, WAIT)
        url = (await web.apps_connections_open(app_token=token))["url"]
        replacement = await http.ws_connect(url)
        hello = await replacement.receive_json(timeout=WAIT)
        assert (hello["type"], hello["num_connections"]) == ("hello", 10)
        for socket in [*sockets[1:], eleventh, replacement]:
            await socket.close()


async def test_a_dropped_connection_is_replaced_and_its_unacked_event_goes_elsewhere(
    fake: FakeSlack, instances: Callable[..., Any]
) -> None:
    fake.ack_timeout = 0.2
    stays, moves = await instances(2, acks=(True, False))
    await fake.send_envelope("events_api", event_payload("one"))  # to connection 0
    sent = await fake.send_envelope("events_api", event_payload("two"))  # to 1, never acked
    await until(lambda: moves.got, "connection 1 got the event")
    await fake.drop_connection(1)
    assert not fake.connections[1].open
    # slack-sdk answers Slack's disconnect message by opening a new connection.
    await fake.wait_for(lambda: len(fake.open_connections) == 2, WAIT)
    assert [c.index for c in fake.open_connections] == [0, 2]
    assert len(fake.calls_to("apps.connections.open")) == 3

    await fake.retries_settled()
    retries = [d for d in fake.deliveries if d.sent_as == sent and d.attempt > 0]
    assert retries and all(d.connection != 1 for d in retries)
    [taken] = [r for r in stays.got if r.payload["event"]["text"] == "two"]
    assert taken.retry_attempt and taken.retry_reason == "timeout"
