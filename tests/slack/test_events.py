"""Mentions, direct messages, shared transcripts and the summarise shortcut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.slack.conftest import CHANNEL, TEAM, USER, SlackRig, assert_nowhere

FIXTURES = Path(__file__).parents[1] / "fixtures" / "transcripts"
DM = "D" + USER.lstrip("U")
SUMMARY = {
    "overview": "A short planning call.",
    "decisions": ["Ship on Friday"],
    "action_items": [{"task": "Update docs", "owner": "Bob", "due": None}],
    "open_questions": ["Who tells support?"],
}


def mention(
    text: str, *, ts: str = "1700000100.000100", thread_ts: str | None = None, **more: Any
) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@U0BOT> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
        **more,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def dm(text: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "user": USER,
        "text": text,
        "ts": "1700000200.000100",
        "channel": DM,
        "event_ts": "1700000200.000100",
        **more,
    }


async def test_a_mention_is_answered_in_its_thread_with_the_chat_stream(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="Streaming works nicely.", input_tokens=5, output_tokens=3)

    response = await slack.event(mention("--provider openai does streaming work?"))
    await slack.settle()

    assert response.status == 200
    (start,) = slack.fake.calls_to("chat.startStream")
    assert start.args["thread_ts"] == "1700000100.000100"
    assert start.args["recipient_user_id"] == USER and start.args["recipient_team_id"] == TEAM
    (message,) = slack.fake.messages[CHANNEL]
    assert message["streamed"] == "Streaming works nicely."
    assert not message["streaming"]
    footer = message["blocks"][-1]["elements"][0]["text"]
    assert footer.startswith("openai · ") and "5 in / 3 out tokens" in footer
    assert not slack.fake.calls_to("chat.postMessage")


async def test_without_the_chat_stream_the_answer_is_edited_in_the_thread(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.fake.fail("chat.startStream", "not_allowed_token_type")
    slack.rig.fakes["openai"].reply(text="Edits work too.")

    await slack.event(mention("--provider openai hello"))
    await slack.settle()

    (message,) = slack.fake.messages[CHANNEL]
    assert message["thread_ts"] == "1700000100.000100"
    assert "Edits work too." in slack.fake.texts(CHANNEL)[0]
    assert "openai · " in json.dumps(message["blocks"][-1], ensure_ascii=False)


async def test_a_stream_slack_expired_is_finished_with_an_edit(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.fake.fail("chat.stopStream", "message_not_in_streaming_state")
    slack.rig.fakes["openai"].reply(text="Finished anyway.")

    await slack.event(mention("--provider openai hello"))
    await slack.settle()

    (started,) = slack.fake.calls_to("chat.startStream")
    (update,) = slack.fake.calls_to("chat.update")
    assert update.args["ts"] == slack.fake.messages[CHANNEL][0]["ts"]
    assert "Finished anyway." in json.dumps(update.args["blocks"])
    assert started.args["channel"] == CHANNEL


def _thread(fake_messages: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"type": "message", "user": user, "text": text, "ts": f"1700000000.00{i:04d}"}
        for i, (user, text) in enumerate(fake_messages)
    ]


async def test_with_history_allowed_a_mention_reads_its_thread_leaving_keys_out(
    slack: SlackRig, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")
    await slack.rig.service().set_preferences(store_conversation_history=True)
    root = "1700000000.000000"
    slack.fake.threads[(CHANNEL, root)] = _thread(
        [("U222", "We should move the launch to May."), ("U333", f"use my key {canary_key}")]
    )

    await slack.event(mention("--provider openai what did Bob propose?", thread_ts=root))
    await slack.settle()

    (replies,) = slack.fake.calls_to("conversations.replies")
    assert replies.args["ts"] == root
    sent = slack.rig.fakes["openai"].requests_to("/chat/completions")[-1].json()
    prompt = json.dumps(sent["messages"])
    assert "move the launch to May" in prompt and "what did Bob propose?" in prompt
    assert "left out" in prompt
    assert canary_key not in prompt
    assert_nowhere(canary_key, slack.fake, caplog)


async def test_without_history_a_mention_does_not_read_its_thread(slack: SlackRig) -> None:
    await slack.add_key("openai")

    await slack.event(
        mention("--provider openai summarise the thread", thread_ts="1700000000.000000")
    )
    await slack.settle()

    assert not slack.fake.calls_to("conversations.replies")
    assert slack.fake.messages[CHANNEL][0]["thread_ts"] == "1700000000.000000"


async def test_a_key_pasted_in_a_channel_mention_goes_nowhere(
    slack: SlackRig, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")

    await slack.event(mention(f"is {canary_key} still valid?"))
    await slack.settle()

    (told,) = [c.args for c in slack.fake.calls_to("chat.postEphemeral")]
    assert told["thread_ts"] == "1700000100.000100" and "revoke it" in json.dumps(told["blocks"])
    assert not slack.rig.fakes["openai"].requests_to("/chat/completions")
    assert_nowhere(canary_key, slack.fake, caplog)


async def test_a_direct_message_is_a_question(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="Hello in private.")

    await slack.event(dm("--provider openai hi &amp; bye"))
    await slack.settle()

    sent = slack.rig.fakes["openai"].requests_to("/chat/completions")[-1].json()
    assert sent["messages"][-1]["content"] == "hi & bye"
    (message,) = slack.fake.messages[DM]
    assert "thread_ts" not in message or message["thread_ts"] is None
    assert "Hello in private." in slack.fake.texts(DM)[0]
    assert not slack.fake.calls_to("chat.postEphemeral")


async def test_a_direct_message_may_run_a_command(slack: SlackRig) -> None:
    await slack.event(dm("/byok list"))
    await slack.settle()

    assert "no keys yet" in slack.fake.texts(DM)[0]


async def test_a_direct_message_may_run_a_command_by_its_alias(slack: SlackRig) -> None:
    await slack.event(dm("/keys list"))  # /keys is /byok, as on Discord and in the console
    await slack.settle()

    assert "no keys yet" in slack.fake.texts(DM)[0]
    assert not slack.rig.fakes["openai"].requests  # not a question for a provider


async def test_a_transcript_shared_in_a_dm_is_summarised(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text=json.dumps(SUMMARY))
    content = (FIXTURES / "vendor_call.srt").read_bytes()
    file = slack.fake.share_file("vendor_call.srt", content)

    await slack.event(dm("", subtype="file_share", files=[file]))
    await slack.settle()

    (download,) = slack.fake.requests_to("/files-pri/")
    assert download.headers["Authorization"] == f"Bearer {slack.bot_token}"
    shown = "\n".join(slack.fake.texts(DM))
    assert (
        "Meeting summary" in shown and "Ship on Friday" in shown and "Who tells support?" in shown
    )


async def test_a_file_too_large_is_refused_without_downloading(slack: SlackRig) -> None:
    file = slack.fake.share_file("huge.txt", b"x")
    file["size"] = 10_000_000

    await slack.event(dm("", subtype="file_share", files=[file]))
    await slack.settle()

    assert not slack.fake.requests_to("/files-pri/")
    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert "larger than a transcript may be" in told["text"]


async def test_the_bot_token_only_goes_to_slack(slack: SlackRig) -> None:
    file = slack.fake.share_file("notes.txt", b"Alice: hi")
    file["url_private_download"] = "https://evil.example/steal"

    await slack.event(dm("", subtype="file_share", files=[file]))
    await slack.settle()

    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert "could not download" in told["text"]


async def test_the_summarise_shortcut_summarises_a_pasted_transcript_in_its_thread(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text=json.dumps(SUMMARY))
    message = {"type": "message", "user": "U222", "ts": "1700000300.000100",
               "text": (FIXTURES / "standup.txt").read_text()}  # fmt: skip

    response = await slack.payload(
        {
            "type": "message_action",
            "callback_id": "byok_summarize_message",
            "team": {"id": TEAM},
            "user": {"id": USER},
            "channel": {"id": CHANNEL},
            "message": message,
            "response_url": slack.fake.response_url(),
            "trigger_id": "7.8.9",
            "action_ts": "1.2",
        }
    )
    await slack.settle()

    assert response.status == 200
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert post.args["thread_ts"] == "1700000300.000100" and "Working on" in post.args["text"]
    shown = slack.fake.texts(CHANNEL)[0]
    assert "Meeting summary" in shown and "asked for a summary" in shown


async def test_a_follow_up_in_an_ask_thread_reads_the_whole_earlier_answer_and_its_question(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")
    await slack.rig.service().set_preferences(store_conversation_history=True)
    openai = slack.rig.fakes["openai"]
    openai.reply(text="Three options:\n\n1. **Rust** for speed\n2. Go for `simplicity`")
    await slack.command("/ask", "--provider openai which language & why?")
    await slack.settle()
    (answer,) = slack.fake.messages[CHANNEL]
    assert answer["text"] == "Three options:"  # Slack's notification text: one line

    openai.reply(text="Go, then.")
    await slack.event(
        mention("--provider openai and the second one?", thread_ts=answer["ts"], ts="1800000000.1")
    )
    await slack.settle()

    prompt = openai.requests_to("/chat/completions")[-1].json()["messages"][-1]["content"]
    assert f"<@{USER}> (with /ask): --provider openai which language & why?" in prompt
    assert "byok-bot (you): Three options:" in prompt
    assert "*Rust* for speed" in prompt and "Go for `simplicity`" in prompt
    assert "openai · " not in prompt  # the footer is not part of the answer


async def test_a_long_thread_is_paged_and_its_newest_messages_are_kept(slack: SlackRig) -> None:
    await slack.add_key("openai")
    await slack.rig.service().set_preferences(store_conversation_history=True)
    root = "1700000000.000000"
    thread = [{"type": "message", "user": "U222", "text": "The root question", "ts": root}]
    thread += [
        {
            "type": "message",
            "user": "U333",
            "text": f"message {n} " + "x" * 40,
            "ts": f"1700000{n:03d}.5",
        }
        for n in range(1, 450)
    ]
    later = {"type": "message", "user": "U333", "text": "after the mention", "ts": "1800000001.0"}
    slack.fake.threads[(CHANNEL, root)] = [*thread, later]

    await slack.event(mention("--provider openai recap?", thread_ts=root, ts="1800000000.0"))
    await slack.settle()

    calls = slack.fake.calls_to("conversations.replies")
    assert len(calls) == 3 and calls[1].args["cursor"] == "200"
    prompt = slack.rig.fakes["openai"].requests_to("/chat/completions")[-1].json()["messages"]
    text = prompt[-1]["content"]
    assert "The root question" in text and "message 449 " in text
    assert "message 1 " not in text  # the oldest replies give way to the budget
    assert "after the mention" not in text


async def test_a_long_streamed_code_answer_closes_and_reopens_its_fence_across_messages(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")
    code = "\n".join(f"print('line {n:04d}')  # {'x' * 20}" for n in range(500))
    answer = f"Here it is:\n\n```python\n{code}\n```\n\nThat's all."
    assert len(answer) > 12_000
    slack.rig.fakes["openai"].reply(text=answer)

    await slack.event(mention("--provider openai write a long script"))
    await slack.settle()

    assert len(slack.fake.calls_to("chat.startStream")) == 2
    first, second = (m["streamed"] for m in slack.fake.messages[CHANNEL])
    assert first.startswith("Here it is:") and first.endswith("\n```")
    assert first.count("```") == 2
    assert second.startswith("```python\n") and second.endswith("That's all.")
    assert second.count("```") == 2
    lines = [line for part in (first, second) for line in part.splitlines()]
    assert [line for line in lines if line.startswith("print(")] == code.splitlines()


HISTORY_OFF = "I only saw this message, not the earlier ones"


async def test_without_history_the_first_answer_in_a_thread_says_earlier_messages_were_not_sent(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")
    root = "1700000000.000000"

    await slack.event(mention("--provider openai and now?", thread_ts=root, ts="1700000300.1"))
    await slack.settle()
    await slack.event(mention("--provider openai and then?", thread_ts=root, ts="1700000400.1"))
    await slack.settle()
    await slack.event(mention("--provider openai a new thread", ts="1700000500.1"))
    await slack.settle()

    first, second, fresh = (json.dumps(m["blocks"]) for m in slack.fake.messages[CHANNEL])
    assert HISTORY_OFF in first and "/byok prefs history on" in first
    assert HISTORY_OFF not in second  # said once per thread
    assert HISTORY_OFF not in fresh  # nothing came before it
    assert not slack.fake.calls_to("conversations.replies")


async def test_without_history_a_dm_follow_up_says_earlier_messages_were_not_sent(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")

    for n, text in enumerate(
        ("--provider openai hi", "--provider openai and?", "--provider openai ok")
    ):
        await slack.event(dm(text, ts=f"170000020{n}.1", event_ts=f"170000020{n}.1"))
        await slack.settle()

    shown = slack.fake.texts(DM)
    assert len(shown) == 3
    assert [HISTORY_OFF in text for text in shown] == [False, True, False]


async def test_with_history_on_a_thread_answer_has_no_history_note(slack: SlackRig) -> None:
    await slack.add_key("openai")
    await slack.rig.service().set_preferences(store_conversation_history=True)

    await slack.event(mention("--provider openai more?", thread_ts="1700000000.000000"))
    await slack.settle()

    assert HISTORY_OFF not in json.dumps(slack.fake.messages[CHANNEL][0]["blocks"])
