"""Slack re-sends an event it is not sure arrived: every kind is answered once.

One instance on SQLite here (tests/slack/test_instances.py has two on PostgreSQL). The
retry is the same body with a new ``X-Slack-Retry-Num``; slash commands are never re-sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.slack.conftest import CHANNEL, TEAM, USER, SlackRig

DM = "D" + USER.lstrip("U")
THREAD = "1700000400.000100"

EVENTS: dict[str, dict[str, Any]] = {
    "mention": {
        "type": "app_mention",
        "user": USER,
        "text": "<@U0BOT> --provider openai hello",
        "ts": "1700000100.000100",
        "channel": CHANNEL,
        "event_ts": "1700000100.000100",
    },
    "direct message": {
        "type": "message",
        "channel_type": "im",
        "user": USER,
        "text": "--provider openai hello",
        "ts": "1700000200.000100",
        "channel": DM,
        "event_ts": "1700000200.000100",
    },
    "assistant message": {
        "type": "message",
        "channel_type": "im",
        "user": USER,
        "text": "--provider openai hello",
        "ts": "1700000400.000200",
        "thread_ts": THREAD,
        "channel": "D0ASSIST",
        "event_ts": "1700000400.000200",
    },
}


async def deliver_twice(slack: SlackRig, event: dict[str, Any], event_id: str) -> None:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A111",
            "event_id": event_id,
            "event_time": 1,
            "event": event,
        }
    )
    for retry in (None, "1"):
        request = slack.request(body, "application/json")
        if retry:
            request.headers["x-slack-retry-num"] = [retry]
            request.headers["x-slack-retry-reason"] = ["http_timeout"]
        response = await slack.adapter.app.async_dispatch(request)
        assert response.status == 200
    await slack.settle()


@pytest.mark.parametrize("kind", list(EVENTS))
async def test_an_event_sent_again_is_answered_once(
    slack: SlackRig, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="Just once.")

    await deliver_twice(slack, EVENTS[kind], f"EvRETRY{kind.replace(' ', '')}")

    assert len(slack.rig.fakes["openai"].requests_to("/chat/completions", "POST")) == 1
    assert len(await slack.rig.usage_rows()) == 1
    assert "delivered again; it was taken already" in caplog.text


async def test_a_new_assistant_thread_sent_again_is_greeted_once(slack: SlackRig) -> None:
    started = {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": USER,
            "context": {"channel_id": "C111", "team_id": TEAM},
            "channel_id": "D0ASSIST",
            "thread_ts": THREAD,
        },
        "event_ts": "1.1",
    }
    await deliver_twice(slack, started, "EvRETRYSTART")

    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert len(slack.fake.calls_to("assistant.threads.setSuggestedPrompts")) == 1


@pytest.mark.slow
async def test_distinct_events_with_the_same_text_are_each_answered(slack: SlackRig) -> None:
    await slack.add_key("openai")
    for _ in range(2):
        slack.rig.fakes["openai"].reply(text="Again.")

    await slack.event(EVENTS["direct message"])
    await slack.event(EVENTS["direct message"])  # a new event_id: the user asked twice
    await slack.settle()

    assert len(slack.fake.calls_to("chat.postMessage")) >= 2
    assert len(await slack.rig.usage_rows()) == 2
