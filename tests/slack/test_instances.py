"""Two Slack instances on one PostgreSQL: one edit budget per workspace, one answer per event.

Each instance is a SlackAdapter on its own engine and ``Database`` object, as two
``byok-bot run`` processes would be, against the one fake Slack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.slack.streaming import SharedEditBudget
from byok.db import Database
from byok.shared_rate import SharedBucket
from tests.postgres_server import PostgresServer
from tests.slack.conftest import CHANNEL, TEAM, USER, MakeSlack, SlackRig, serve

pytestmark = pytest.mark.postgres

Instances = Callable[..., Awaitable[tuple[SlackRig, SlackRig]]]


@pytest.fixture
def two_instances(make_slack: MakeSlack, postgres_server: PostgresServer) -> Instances:
    async def make(**settings: Any) -> tuple[SlackRig, SlackRig]:
        url = postgres_server.create_migrated_database()
        databases = [Database(url), Database(url)]
        signing = {"signing_secret": SecretStr(secrets.token_hex(16))}
        options = settings.pop("options", {})
        first, second = [
            await make_slack(
                rig_overrides={"database": db}, settings={**signing, **settings}, **options
            )
            for db in databases
        ]
        # One app, one signing secret: whichever instance gets a request can check it.
        second.signing_secret = first.signing_secret = signing["signing_secret"].get_secret_value()
        return first, second

    return make


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A111",
            "event_id": event_id,
            "event_time": 1,
            "event": event,
        }
    )


def mention(text: str, ts: str = "1700000100.000100") -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": USER,
        "text": f"<@U0BOT> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
    }


async def post_event(url: str, slack: SlackRig, body: str, *, retry: int = 0) -> int:
    """POST an Events API body as Slack does, a retry with its X-Slack-Retry headers."""
    signed = slack.request(body, "application/json", timestamp=int(time.time()))
    headers = {name: str(signed.headers[name][0]) for name in signed.headers}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/slack/events", data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


def questions_asked(slack: SlackRig) -> int:
    return len(slack.rig.fakes["openai"].requests_to("/chat/completions", "POST"))


async def test_an_event_and_its_retry_at_two_instances_behind_a_balancer_answered_once(
    two_instances: Instances,
) -> None:
    a, b = await two_instances()
    await a.add_key("openai")
    a.rig.fakes["openai"].reply(text="Answered once.")
    body = event_body(mention("--provider openai once?"), "EvTWICE1")

    async with serve(a.adapter.routes()) as url_a, serve(b.adapter.routes()) as url_b:
        statuses = await asyncio.gather(
            post_event(url_a, a, body), post_event(url_b, b, body, retry=1)
        )
        await asyncio.gather(a.settle(), b.settle())

    assert statuses == [200, 200]  # both acknowledged: Slack stops re-sending
    assert questions_asked(a) == 1
    (message,) = a.fake.messages[CHANNEL]
    assert message["streamed"] == "Answered once."
    assert len(await a.rig.usage_rows()) == 1


async def test_an_event_slack_sends_again_to_the_other_socket_mode_instance_is_answered_once(
    two_instances: Instances,
) -> None:
    socket = {"mode": "socket", "app_token": SecretStr("xapp-" + secrets.token_hex(12))}
    a, b = await two_instances(**socket)
    fake = a.fake
    await a.add_key("openai")
    a.rig.fakes["openai"].reply(text="One answer.")
    await a.adapter.start()
    await b.adapter.start()
    await fake.wait_for(lambda: len(fake.open_connections) == 2)
    # No ack is in time: Slack sends the event again at once, to the other connection.
    fake.ack_timeout = 0.0

    sent = await fake.send_envelope(
        "events_api", json.loads(event_body(mention("--provider openai one?"), "EvTWICE2"))
    )
    await fake.retries_settled()
    deliveries = [d for d in fake.deliveries if d.sent_as == sent]

    def all_acked() -> bool:  # each instance acks once its listener has handed work on
        acked = {m.get("envelope_id") for m in fake.socket_messages}
        return all(d.envelope_id in acked for d in deliveries)

    await fake.wait_for(all_acked, within=10)
    await asyncio.gather(a.settle(), b.settle())
    assert {d.connection for d in deliveries} == {0, 1}  # both instances got the event
    assert max(d.attempt for d in deliveries) >= 1
    assert questions_asked(a) == 1
    assert [m["streamed"] for m in fake.messages[CHANNEL]] == ["One answer."]
    assert len(await a.rig.usage_rows()) == 1


async def test_two_instances_take_a_workspaces_edits_from_one_budget(
    two_instances: Instances,
) -> None:
    a, b = await two_instances(options={"edits_per_minute": 0.001, "edit_burst": 3})
    budget_a, budget_b = a.adapter.runtime.edit_budget(TEAM), b.adapter.runtime.edit_budget(TEAM)
    assert isinstance(budget_a, SharedEditBudget) and isinstance(budget_b, SharedEditBudget)

    taken = [await budget.try_take() for budget in (budget_a, budget_b, budget_a, budget_b)]
    assert taken == [True, True, True, False]
    assert budget_b.level < 1 and budget_b.wait_s() > 0
    await budget_b.spend()  # a final edit goes regardless, in debt
    assert not await budget_a.try_take()
    assert budget_a.level == pytest.approx(-1, abs=0.01)  # what B's final edit left
    # Another workspace has a budget of its own; a 429 seen by one instance holds both.
    other_a, other_b = a.adapter.runtime.edit_budget("T999"), b.adapter.runtime.edit_budget("T999")
    await other_a.hold(30)
    assert not await other_b.try_take()
    assert other_b.wait_s() == pytest.approx(30, abs=2)


async def test_answers_streaming_at_two_instances_share_the_workspaces_edit_budget(
    two_instances: Instances,
) -> None:
    a, b = await two_instances(options={"edits_per_minute": 0.001, "edit_burst": 1})
    await a.add_key("openai")
    words = [f"w{i} " for i in range(30)]
    for _ in range(2):
        a.rig.fakes["openai"].reply(text="".join(words).strip(), chunks=tuple(words))

    await asyncio.gather(
        a.command("/ask", "--provider openai Count", channel="C1"),
        b.command("/ask", "--provider openai Count", channel="C2"),
    )
    await asyncio.gather(a.settle(), b.settle())

    updates = [json.dumps(c.args["blocks"]) for c in a.fake.calls_to("chat.update")]
    interim = [u for u in updates if ":writing_hand:" in u]
    assert len(interim) <= 1  # the burst, shared by both instances' answers
    assert len(updates) - len(interim) == 2  # each final edit went through regardless
    assert "w29" in a.fake.texts("C1")[0] and "w29" in a.fake.texts("C2")[0]


async def test_without_the_database_a_shared_budget_paces_locally_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    shared = SharedBucket(unreachable, "slack.edit", per_second=1 / 3600, burst=2)
    budget = SharedEditBudget(shared, TEAM, clock=lambda: 1000.0)
    caplog.set_level(logging.INFO, "adapters.slack.streaming")

    assert [await budget.try_take() for _ in range(3)] == [True, True, False]
    await budget.spend()  # a final edit: in debt, one token below empty
    await budget.hold(30)  # shorter than the debt: changes nothing
    assert budget.level == -1 and budget.wait_s() == pytest.approx(2 * 3600)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "paces its edits alone" in warning.getMessage()
