"""Messages to the bot: DMs, mentions, and reply chains that continue a conversation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.discord.conftest import DiscordRig
from tests.fakes.discord_events import ALICE, CHANNEL_ID
from tests.fakes.llm_script import Reply as LLMReply


def _user_turns(discord: DiscordRig, provider: str = "openai") -> list[str]:
    body = discord.engine.fakes[provider].requests_to("/chat/completions")[-1].json()
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


async def test_a_dm_is_a_question_answered_in_place(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].reply(text="Paris.")
    message = discord.events.message("Capital of France?", dm=True)
    await discord.post(message)
    [answer] = discord.fake.from_bot(message["channel_id"])
    assert answer["content"].startswith("Paris.\n-# openai · ")
    assert answer["message_reference"]["message_id"] == message["id"]
    assert discord.fake.requests_to(f"/channels/{message['channel_id']}/typing", "POST")
    assert _user_turns(discord) == ["Capital of France?"]


async def test_a_mention_in_a_channel_is_answered_with_a_reply(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].reply(text="Hello Alice.")
    message = discord.events.message("say hello", mention=True)
    await discord.post(message)
    [answer] = discord.fake.from_bot(CHANNEL_ID)
    assert answer["content"].startswith("Hello Alice.")
    assert answer["message_reference"]["message_id"] == message["id"]
    assert _user_turns(discord) == ["say hello"]  # the mention itself is not sent


async def test_messages_not_for_the_bot_are_ignored(discord: DiscordRig) -> None:
    discord.adapter.client._connection.parse_message_create(
        discord.events.message("just chatting with friends")
    )
    await discord.post(discord.events.message("/help", dm=True))  # handled after the first
    assert not discord.fake.from_bot(CHANNEL_ID)
    assert not discord.fake.requests_to(f"/channels/{CHANNEL_ID}")


async def _chain(discord: DiscordRig, first: dict[str, Any], *, history: bool) -> None:
    await discord.add_key("openai")
    await discord.set_history(history)
    discord.engine.fakes["openai"].reply(text="Nice to meet you, Alice.")
    discord.engine.fakes["openai"].reply(text="You are Alice.")
    if first["type"] == 2:
        await discord.interact(first)
        answer = discord.fake.responses(first["id"])[-1]
    else:
        await discord.post(first)
        answer = discord.fake.from_bot(CHANNEL_ID)[-1]
    await discord.post(discord.events.message("What is my name?", reply_to=answer, mention=True))


async def test_a_reply_to_the_bot_continues_the_conversation(discord: DiscordRig) -> None:
    await _chain(discord, discord.events.message("I am Alice.", mention=True), history=True)
    assert _user_turns(discord) == ["I am Alice.", "What is my name?"]
    body = discord.engine.fakes["openai"].requests_to("/chat/completions")[-1].json()
    assert {"role": "assistant", "content": "Nice to meet you, Alice."} in body["messages"]
    assert "History is off" not in str(discord.fake.from_bot(CHANNEL_ID)[-1]["embeds"])


async def test_a_reply_to_a_slash_command_answer_continues_it(discord: DiscordRig) -> None:
    ask = discord.events.command("ask", discord.events.options(prompt="I am Alice."))
    await _chain(discord, ask, history=True)
    assert _user_turns(discord) == ["I am Alice.", "What is my name?"]


async def test_with_history_off_a_reply_stands_alone_and_says_so(discord: DiscordRig) -> None:
    await _chain(discord, discord.events.message("I am Alice.", mention=True), history=False)
    assert _user_turns(discord) == ["What is my name?"]
    last = discord.fake.from_bot(CHANNEL_ID)[-1]
    assert last["embeds"][0]["fields"][0]["name"] == "History is off"


async def test_with_history_off_a_dm_follow_up_says_so_once(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    openai = discord.engine.fakes["openai"]
    openai.default_reply = LLMReply(text="Noted.")
    dm = discord.events.dm_channel_id(ALICE)

    async def say(text: str) -> dict[str, Any]:
        await discord.post(discord.events.message(text, dm=True))
        return discord.fake.from_bot(dm)[-1]

    first = await say("I am Alice.")
    assert not first["embeds"]  # nothing earlier was left out
    await discord.post(discord.events.message("/usage", dm=True))
    second = await say("What is my name?")
    assert _user_turns(discord) == ["What is my name?"]
    [note] = second["embeds"][0]["fields"]
    assert note["name"] == "History is off" and "/byok prefs history on" in note["value"]
    third = await say("And my age?")
    assert "History is off" not in str(third["embeds"])  # said once is enough


async def test_with_history_on_a_dm_follow_up_has_no_note(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    await discord.set_history(True)
    discord.engine.fakes["openai"].default_reply = LLMReply(text="Noted.")
    dm = discord.events.dm_channel_id(ALICE)
    for text in ("I am Alice.", "What is my name?"):
        await discord.post(discord.events.message(text, dm=True))
    assert _user_turns(discord) == ["I am Alice.", "What is my name?"]
    assert "History is off" not in str(discord.fake.from_bot(dm)[-1]["embeds"])


async def test_after_a_restart_the_chain_is_walked_on_discord(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    await discord.set_history(True)
    first = discord.events.message("I am Alice.", mention=True)
    await discord.post(first)
    answer = discord.fake.from_bot(CHANNEL_ID)[-1]
    second = discord.events.message("I like tea.", reply_to=answer, mention=True)
    await discord.post(second)
    answer2 = discord.fake.from_bot(CHANNEL_ID)[-1]
    discord.adapter.conversations._threads.clear()  # what a restart forgets
    discord.adapter.client._connection._messages.clear()  # type: ignore[union-attr]
    await discord.post(discord.events.message("What do I like?", reply_to=answer2, mention=True))
    assert _user_turns(discord) == ["I am Alice.", "I like tea.", "What do I like?"]
    assert discord.fake.requests_to(f"/channels/{CHANNEL_ID}/messages/{second['id']}", "GET")


async def test_a_reply_without_the_mention_cannot_be_read(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    await discord.post(discord.events.message("Hi", mention=True))
    answer = discord.fake.from_bot(CHANNEL_ID)[-1]
    unread = discord.events.message("", reply_to=answer)  # no Message Content intent
    await discord.post(unread)
    assert "Keep the @mention on" in discord.fake.from_bot(CHANNEL_ID)[-1]["content"]


async def test_a_long_answer_in_a_channel_continues_in_further_replies(
    discord: DiscordRig,
) -> None:
    await discord.add_key("openai")
    text = "\n\n".join(f"Point {i}: " + "detail " * 40 for i in range(30))
    discord.engine.fakes["openai"].reply(LLMReply(text=text))
    await discord.post(discord.events.message("Explain everything", mention=True))
    answers = discord.fake.from_bot(CHANNEL_ID)
    assert len(answers) >= 4
    assert all(len(a["content"]) <= 2000 for a in answers)
    assert "Point 29" in answers[-1]["content"]
    assert all("still writing" not in a["content"] for a in answers)


_VTT = (
    b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Alice>We ship on Friday.\n\n"
    b"00:00:05.000 --> 00:00:08.000\n<v Bob>I'll update the docs by Thursday.\n"
)


async def test_a_transcript_with_words_in_a_mention_is_summarized(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    openai = discord.engine.fakes["openai"]
    openai.default_reply = LLMReply(
        text='{"overview": "Launch.", "decisions": [], "action_items": [], "open_questions": []}'
    )
    vtt = discord.fake.host_file("standup.vtt", _VTT)
    message = discord.events.message(
        "summarise this --model gpt-4o-mini", mention=True, attachments=[vtt]
    )
    await discord.post(message)
    [summary] = discord.fake.from_bot(CHANNEL_ID)
    assert summary["embeds"][0]["title"] == "Meeting summary"
    assert summary["message_reference"]["message_id"] == message["id"]
    request = openai.requests_to("/chat/completions")[-1].json()
    assert request["model"] == "gpt-4o-mini"  # the words' flags apply
    assert "We ship on Friday." in str(request["messages"])
    assert "summarise this" not in str(request["messages"])


async def test_a_transcript_sent_by_dm_is_summarized(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].default_reply = LLMReply(
        text=(
            '{"overview": "Launch planning.", "decisions": ["Ship Friday"], '
            '"action_items": [{"task": "Update docs", "owner": "Bob", "due": "Thursday"}], '
            '"open_questions": []}'
        )
    )
    vtt = discord.fake.host_file(
        "standup.vtt",
        (
            b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Alice>We ship on Friday.\n\n"
            b"00:00:05.000 --> 00:00:08.000\n<v Bob>I'll update the docs by Thursday.\n"
        ),
    )
    await discord.post(discord.events.message("", dm=True, attachments=[vtt]))  # file alone
    [summary] = discord.fake.from_bot(discord.fake.dm_channels["1400000000000000001"])
    embed = summary["embeds"][0]
    assert embed["title"] == "Meeting summary"
    assert [f["name"] for f in embed["fields"]][:3] == ["Overview", "Decisions", "Action items"]


@pytest.mark.parametrize("word", ["summarise", "Summary"])
async def test_a_transcript_sent_with_an_alias_of_summarize_is_read(
    discord: DiscordRig, word: str
) -> None:
    await discord.add_key("openai")
    openai = discord.engine.fakes["openai"]
    openai.default_reply = LLMReply(
        text='{"overview": "Launch.", "decisions": [], "action_items": [], "open_questions": []}'
    )
    vtt = discord.fake.host_file("standup.vtt", _VTT)
    await discord.post(discord.events.message(f"/{word}", dm=True, attachments=[vtt]))
    [summary] = discord.fake.from_bot(discord.fake.dm_channels["1400000000000000001"])
    assert summary["embeds"][0]["title"] == "Meeting summary"
    assert "We ship on Friday." in str(openai.requests_to("/chat/completions")[-1].json())
