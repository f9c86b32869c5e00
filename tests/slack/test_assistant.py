"""Slack's AI-app assistant pane: greeting, suggested prompts, status while thinking."""

from __future__ import annotations

import json

from tests.slack.conftest import USER, SlackRig

CHANNEL = "D0ASSIST"
THREAD = "1700000400.000100"


async def test_a_new_assistant_thread_is_greeted_with_suggested_prompts(slack: SlackRig) -> None:
    await slack.event(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": USER,
                "context": {"channel_id": "C111", "team_id": "T111"},
                "channel_id": CHANNEL,
                "thread_ts": THREAD,
            },
            "event_ts": "1.1",
        }
    )
    await slack.settle()

    (greeting,) = slack.fake.calls_to("chat.postMessage")
    assert greeting.args["thread_ts"] == THREAD and "your own" in greeting.args["text"]
    (prompts,) = slack.fake.calls_to("assistant.threads.setSuggestedPrompts")
    assert len(prompts.args["prompts"]) <= 4
    assert {"title": "Show my keys", "message": "/byok list"} in prompts.args["prompts"]


async def test_a_question_in_the_assistant_shows_status_then_streams_the_answer(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="Assistant answer.")

    await slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "user": USER,
            "text": "--provider openai what is BYOK?",
            "ts": "1700000400.000200",
            "thread_ts": THREAD,
            "channel": CHANNEL,
            "event_ts": "1700000400.000200",
        }
    )
    await slack.settle()

    (status,) = slack.fake.calls_to("assistant.threads.setStatus")
    assert status.args["status"] == "is thinking…" and status.args["thread_ts"] == THREAD
    (message,) = slack.fake.messages[CHANNEL]
    assert message["thread_ts"] == THREAD and message["streamed"] == "Assistant answer."
    assert not slack.fake.calls_to("chat.postEphemeral")


async def test_a_suggested_prompt_runs_its_command(slack: SlackRig) -> None:
    await slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "user": USER,
            "text": "/usage",
            "ts": "1700000400.000300",
            "thread_ts": THREAD,
            "channel": CHANNEL,
            "event_ts": "1700000400.000300",
        }
    )
    await slack.settle()

    (message,) = slack.fake.messages[CHANNEL]
    assert message["thread_ts"] == THREAD
    assert "Your usage" in json.dumps(message["blocks"])


async def test_without_history_an_assistant_follow_up_says_earlier_messages_were_not_sent(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")

    for n, text in enumerate(("what is BYOK?", "and who pays?")):
        ts = f"1700000400.00030{n}"
        await slack.event(
            {
                "type": "message",
                "channel_type": "im",
                "user": USER,
                "ts": ts,
                "text": f"--provider openai {text}",
                "thread_ts": THREAD,
                "channel": CHANNEL,
                "event_ts": ts,
            }
        )
        await slack.settle()

    first, follow_up = (json.dumps(m.get("blocks") or []) for m in slack.fake.messages[CHANNEL])
    assert "History is off" not in first
    assert "History is off" in follow_up and "not the earlier ones" in follow_up
