"""Slash commands through the real bolt app: acknowledgement, visibility, streaming, errors."""

from __future__ import annotations

import json
import re

import pytest

from adapters.slack.render import MAX_BLOCKS, SECTION_CHARS
from tests.fakes.loopback import Fault
from tests.slack.conftest import CHANNEL, USER, MakeSlack, SlackRig, assert_nowhere


def _blocks_text(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks)


async def test_a_slash_command_is_acknowledged_before_the_answer_is_ready(
    make_slack: MakeSlack,
) -> None:
    slack = await make_slack(rig_overrides={"timeout_s": 0.5})
    await slack.add_key("openai")
    openai = slack.rig.fakes["openai"]
    openai.inject(Fault.stall(), path="/chat/completions")

    response = await slack.command("/ask", "--provider openai Are you there?")

    # Slack got its empty 200 while the provider had not answered yet.
    assert response.status == 200 and response.body == ""
    await slack.fake.wait_for(lambda: openai.requests_to("/chat/completions"))
    assert not slack.fake.calls_to("chat.update")
    await slack.settle()
    # The stalled provider timed out; the user is told, only the placeholder was public.
    assert slack.fake.messages.get(CHANNEL, []) == []
    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert told["user"] == USER and "openai" in json.dumps(told["blocks"])


async def test_ask_answers_publicly_and_names_provider_model_tokens_and_cost(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="**Four**, of course.", input_tokens=9, output_tokens=4)

    await slack.command("/ask", "--provider openai What is 2+2?")
    await slack.settle()

    placeholder = slack.fake.calls_to("chat.postMessage")[0].args
    assert placeholder["channel"] == CHANNEL and "Working on" in placeholder["text"]
    (message,) = slack.fake.messages[CHANNEL]
    blocks = message["blocks"]
    assert blocks[0]["type"] == "context" and f"<@{USER}>" in blocks[0]["elements"][0]["text"]
    assert "*Four*, of course." in _blocks_text(blocks)  # Markdown shown as mrkdwn
    footer = blocks[-1]
    assert footer["type"] == "context"
    assert re.fullmatch(
        r"openai · \S+ · 9 in / 4 out tokens · \$[\d.]+", footer["elements"][0]["text"]
    )
    assert not slack.fake.calls_to("chat.postEphemeral")


async def test_answers_stream_into_the_message_as_they_are_written(slack: SlackRig) -> None:
    await slack.add_key("openai")
    words = [f"word{i} " for i in range(30)]
    slack.rig.fakes["openai"].reply(text="".join(words).strip(), chunks=tuple(words))

    await slack.command("/ask", "--provider openai Count")
    await slack.settle()

    updates = [c.args for c in slack.fake.calls_to("chat.update")]
    # Edits of the placeholder while writing, marked as such, then the finished answer.
    assert ":writing_hand:" in json.dumps(updates[0]["blocks"])
    assert ":writing_hand:" not in json.dumps(updates[-1]["blocks"])
    assert "word29" in json.dumps(updates[-1]["blocks"])
    assert all(u["ts"] == updates[0]["ts"] for u in updates)  # one message, edited


async def test_edits_of_one_message_are_paced(make_slack: MakeSlack) -> None:
    slack = await make_slack(interval=60.0)
    await slack.add_key("openai")
    words = [f"w{i} " for i in range(40)]
    slack.rig.fakes["openai"].reply(text="".join(words).strip(), chunks=tuple(words))

    await slack.command("/ask", "--provider openai Count")
    await slack.settle()

    # The placeholder, one paced edit showing the first words at most, then the final answer.
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert len(slack.fake.calls_to("chat.update")) <= 2
    assert "w39" in slack.fake.texts(CHANNEL)[0]


async def test_a_long_answer_continues_in_the_thread(slack: SlackRig) -> None:
    await slack.add_key("openai")
    paragraph = ("All work and no play makes a long answer. " * 40).strip()
    text = "\n\n".join(f"{i}. {paragraph}" for i in range(20))  # ~34,000 characters
    slack.rig.fakes["openai"].reply(text=text)

    await slack.command("/ask", "--provider openai Write a lot")
    await slack.settle()

    first, *rest = slack.fake.messages[CHANNEL]
    assert rest, "the answer should continue in the thread"
    assert all(m["thread_ts"] == first["ts"] for m in rest)
    for message in slack.fake.messages[CHANNEL]:
        assert len(message["blocks"]) <= MAX_BLOCKS
        for block in message["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= SECTION_CHARS
    shown = "\n".join(slack.fake.texts(CHANNEL))
    assert "19. All work" in shown and "0. All work" in shown
    assert "openai · " in rest[-1]["blocks"][-1]["elements"][0]["text"]  # the footer ends it


@pytest.mark.parametrize("line", ["/byok list", "/usage", "/help", "/byok prefs"])
async def test_everything_but_answers_is_shown_to_the_user_alone(
    slack: SlackRig, line: str
) -> None:
    command, _, text = line.partition(" ")
    await slack.command(command, text)
    await slack.settle()

    (ephemeral,) = [c.args for c in slack.fake.calls_to("chat.postEphemeral")]
    assert ephemeral["channel"] == CHANNEL and ephemeral["user"] == USER
    assert ephemeral["blocks"]
    assert not slack.fake.calls_to("chat.postMessage")


async def test_ask_where_the_bot_is_not_a_member_answers_through_response_url(
    slack: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="Hello, channel.")
    slack.fake.fail("chat.postMessage", "not_in_channel")

    await slack.command("/ask", "--provider openai hello?")
    await slack.settle()

    # One message for the channel, as the streamed answer would have ended, plus a hint.
    (answer,) = slack.fake.responses
    shown = json.dumps(answer["blocks"])
    assert answer["response_type"] == "in_channel"
    assert "Hello, channel." in shown and f"<@{USER}> `/ask` --provider openai hello?" in shown
    assert "openai" in shown and " out tokens" in shown  # the footer
    assert "/invite <@U0BOT>" in shown and "stream" in shown
    assert not slack.fake.calls_to("chat.update") and not slack.fake.ephemeral
    assert "Hello, channel." not in caplog.text  # the webhook client logs no payloads


@pytest.mark.slow  # paced by Slack's rate limits
async def test_a_group_dm_gets_a_long_answer_in_the_five_messages_allowed(
    slack: SlackRig,
) -> None:
    await slack.add_key("openai")
    paragraph = ("All work and no play makes a long answer. " * 40).strip()
    text = "\n\n".join(f"{i}. {paragraph}" for i in range(60))  # ~100,000 characters
    slack.rig.fakes["openai"].reply(text=text)
    slack.fake.fail("chat.postMessage", "channel_not_found")

    await slack.command(
        "/ask", "--provider openai Write a lot", channel="G333", channel_name="mpdm-a--b--c-1"
    )
    await slack.settle()

    *parts, note = slack.fake.responses
    assert len(parts) == 4 and all(p["response_type"] == "in_channel" for p in parts)
    assert "0. All work" in json.dumps(parts[0]["blocks"])
    assert "part 4 of" in note["text"] and "/invite <@U0BOT>" in note["text"]


async def test_an_error_where_the_bot_is_not_a_member_goes_to_the_user_alone(
    slack: SlackRig,
) -> None:
    slack.fake.fail("chat.postMessage", "not_in_channel")

    await slack.command("/ask", "hello?")  # no key yet
    await slack.settle()

    (told,) = slack.fake.responses
    assert told["response_type"] == "ephemeral" and "/byok add" in json.dumps(told)


async def test_a_private_reply_where_the_bot_cannot_post_goes_through_response_url(
    slack: SlackRig,
) -> None:
    slack.fake.fail("chat.postEphemeral", "channel_not_found")

    await slack.command("/byok", "list", channel="G222", channel_name="privategroup")
    await slack.settle()

    (answer,) = slack.fake.responses
    assert answer["response_type"] == "ephemeral" and "no keys yet" in json.dumps(answer)


async def test_rate_limits_are_retried_after_retry_after(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.fake.rate_limit("chat.postMessage", retry_after="0")

    await slack.command("/ask", "--provider openai hello?")
    await slack.settle()

    posts = slack.fake.requests_to("/api/chat.postMessage")
    assert len(posts) == 2  # refused with 429, then sent again
    assert slack.fake.messages[CHANNEL] and not slack.fake.responses


async def test_a_key_pasted_into_ask_goes_nowhere(
    slack: SlackRig, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")

    await slack.command("/ask", f"why does {canary_key} fail?")
    await slack.settle()

    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert "revoke it" in json.dumps(told["blocks"])
    assert slack.fake.messages.get(CHANNEL, []) == []  # the placeholder was taken back
    assert not slack.rig.fakes["openai"].requests_to("/chat/completions")
    assert_nowhere(canary_key, slack.fake, caplog)


async def test_a_provider_error_quoting_the_key_never_reaches_slack(
    slack: SlackRig, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")
    body = {"error": {"message": f"Incorrect API key provided: {canary_key}", "type": "x"}}
    slack.rig.fakes["openai"].inject(Fault.http(401, body), path="/chat/completions")

    await slack.command("/ask", "--provider openai hello?")
    await slack.settle()

    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert "openai" in json.dumps(told["blocks"])
    assert_nowhere(canary_key, slack.fake, caplog)


async def test_in_a_dm_with_the_bot_answers_are_posted_not_ephemeral(slack: SlackRig) -> None:
    await slack.add_key("openai")
    dm = "D" + USER.lstrip("U")

    await slack.command("/usage", "", channel=dm, channel_name="directmessage")
    await slack.settle()

    assert slack.fake.calls_to("conversations.open")
    assert not slack.fake.calls_to("chat.postEphemeral")
    assert "Your usage" in slack.fake.texts(dm)[0]


async def test_tokens_and_the_signing_secret_travel_only_where_they_must(
    slack: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")
    await slack.command("/ask", "--provider openai hello?")
    await slack.command("/byok", "list")
    await slack.settle()

    assert_nowhere(slack.signing_secret, slack.fake, caplog)
    for request in slack.fake.requests:
        assert slack.bot_token.encode() not in request.body
        assert slack.bot_token not in request.url
    assert {c.token for c in slack.fake.calls} == {slack.bot_token}  # as the bearer, only
    assert slack.bot_token not in caplog.text


async def test_with_production_acknowledgement_the_answer_follows_the_ack(
    make_slack: MakeSlack,
) -> None:
    """process_before_response=False, as in production: bolt answers once ack() is called."""
    slack = await make_slack(process_before_response=False)

    response = await slack.command("/byok", "list")
    assert response.status == 200 and response.body == ""
    await slack.fake.wait_for(lambda: slack.fake.calls_to("chat.postEphemeral"))

    (reply,) = slack.fake.calls_to("chat.postEphemeral")
    assert "no keys yet" in json.dumps(reply.args["blocks"])


async def test_answers_in_one_workspace_share_one_edit_budget(make_slack: MakeSlack) -> None:
    """Two /ask answers streaming at once: interim edits come out of one small budget."""
    slack = await make_slack(edits_per_minute=0.001, edit_burst=2)
    await slack.add_key("openai")
    words = [f"w{i} " for i in range(30)]
    for _ in range(2):
        slack.rig.fakes["openai"].reply(text="".join(words).strip(), chunks=tuple(words))

    await slack.command("/ask", "--provider openai Count", channel="C1")
    await slack.command("/ask", "--provider openai Count", channel="C2")
    await slack.settle()

    updates = [json.dumps(c.args["blocks"]) for c in slack.fake.calls_to("chat.update")]
    interim = [u for u in updates if ":writing_hand:" in u]
    assert len(interim) <= 2  # the burst, shared by both answers
    assert len(updates) - len(interim) == 2  # each final edit went through regardless
    assert "w29" in slack.fake.texts("C1")[0] and "w29" in slack.fake.texts("C2")[0]
    # Every edit of both answers came out of their workspace's one budget (finals may
    # take it into debt, bounded at the burst).
    runtime = slack.adapter.runtime
    assert runtime.edit_budget("T111").level == pytest.approx(max(2 - len(updates), -2), abs=0.01)
    assert runtime.edit_budget("T999").level == 2  # another workspace: a budget of its own
