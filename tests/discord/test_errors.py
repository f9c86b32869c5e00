"""Discord refusing things: rate limits, missing permissions, expired interactions.

Each becomes a retry, a clear message or a logged, handled event; the bot keeps serving.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.discord.conftest import DiscordRig, poll
from tests.fakes.discord_events import ALICE, CHANNEL_ID
from tests.fakes.fake_discord import APP_ID
from tests.fakes.llm_script import Reply as LLMReply
from tests.fakes.loopback import Fault, RecordedRequest


@pytest.fixture
async def keyed(discord: DiscordRig) -> DiscordRig:
    await discord.add_key("openai")
    return discord


def _original(discord: DiscordRig, payload: dict[str, str]) -> str:
    return f"/webhooks/{APP_ID}/{payload['token']}/messages/@original"


async def test_a_rate_limited_edit_is_retried_after_retry_after(keyed: DiscordRig) -> None:
    keyed.engine.fakes["openai"].reply(text="Done.")
    payload = keyed.events.command("ask", keyed.events.options(prompt="Hi"))
    keyed.fake.rate_limit(_original(keyed, payload), retry_after=0.01)
    await keyed.interact(payload)
    patches = keyed.fake.requests_to(_original(keyed, payload), "PATCH")
    assert len(patches) >= 2 and patches[0].body == patches[1].body  # the same edit, again
    assert keyed.fake.responses(payload["id"])[0]["content"].startswith("Done.")


async def test_a_refused_streaming_edit_is_logged_and_the_answer_still_arrives(
    keyed: DiscordRig, caplog: pytest.LogCaptureFixture
) -> None:
    keyed.engine.fakes["openai"].reply(text="one two three four five six")
    payload = keyed.events.command("ask", keyed.events.options(prompt="Count"))
    keyed.fake.rate_limit(_original(keyed, payload), cloudflare=True)  # no retry possible
    with caplog.at_level(logging.WARNING):
        await keyed.interact(payload)
    assert "HTTP 429" in caplog.text
    assert keyed.fake.responses(payload["id"])[0]["content"].startswith("one two three four")


async def test_an_expired_interaction_is_logged_and_the_bot_carries_on(
    keyed: DiscordRig, caplog: pytest.LogCaptureFixture
) -> None:
    keyed.fake.expire_interactions()
    late = keyed.events.command("ask", keyed.events.options(prompt="Hi"))
    with caplog.at_level(logging.WARNING):
        await keyed.interact(late)
    assert f"interaction {late['id']} expired before it was answered" in caplog.text
    assert not keyed.fake.requests_to(f"/webhooks/{APP_ID}/{late['token']}")
    assert not keyed.engine.fakes["openai"].requests_to("/chat/completions")
    fine = keyed.events.command("byok", [keyed.events.sub("list")])
    await keyed.interact(fine)
    assert keyed.fake.responses(fine["id"])[0]["embeds"][0]["title"] == "Your keys"


async def test_missing_permissions_in_a_channel_are_explained_by_dm(
    keyed: DiscordRig, caplog: pytest.LogCaptureFixture
) -> None:
    message = keyed.events.message("hello", mention=True)
    keyed.fake.forbid(f"/channels/{CHANNEL_ID}/messages", times=5)
    with caplog.at_level(logging.WARNING):
        await keyed.post(message)
    assert f"missing permissions in channel {CHANNEL_ID} (code 50013)" in caplog.text
    [note] = keyed.fake.from_bot(keyed.fake.dm_channels[message["author"]["id"]])
    assert "missing a permission" in note["content"]


async def test_a_rate_limited_channel_reply_is_retried(keyed: DiscordRig) -> None:
    keyed.engine.fakes["openai"].reply(text="Pong.")
    keyed.fake.rate_limit(f"/channels/{CHANNEL_ID}/messages", retry_after=0.01)
    await keyed.post(keyed.events.message("ping", mention=True))
    [answer] = keyed.fake.from_bot(CHANNEL_ID)
    assert answer["content"].startswith("Pong.")
    assert len(keyed.fake.requests_to(f"/channels/{CHANNEL_ID}/messages", "POST")) == 2


async def test_a_failed_download_is_explained(keyed: DiscordRig) -> None:
    vtt = keyed.fake.host_file("meeting.vtt", b"WEBVTT\n")
    keyed.fake.inject(Fault.http(404), path="/attachments/")
    payload = keyed.events.command("summarize", attachment=vtt)
    await keyed.interact(payload)
    [shown] = keyed.fake.responses(payload["id"])
    assert "couldn't download `meeting.vtt`" in shown["content"]


async def test_stop_lets_an_answer_in_progress_finish_and_turns_new_work_away(
    keyed: DiscordRig,
) -> None:
    openai = keyed.engine.fakes["openai"]
    openai.reply(LLMReply(text="The first part and then more"))
    openai.inject(Fault.stall(after=3), path="/chat/completions")
    payload = keyed.events.command("ask", keyed.events.options(prompt="Tell me"))
    keyed.adapter.client._connection.parse_interaction_create(payload)
    await poll(
        lambda: any(
            b"still writing" in r.body
            for r in keyed.fake.requests_to(_original(keyed, payload), "PATCH")
        ),
        "the answer is streaming",
    )
    stopping = asyncio.create_task(keyed.adapter.stop(grace_s=10))
    await poll(lambda: not keyed.adapter.flows.accepting, "stop has begun")
    refused = keyed.events.command("byok", [keyed.events.sub("list")])
    await keyed.interact(refused)
    assert keyed.callbacks(refused)[0]["data"]["content"].startswith("The bot is restarting")
    assert not stopping.done()
    await openai.stop()  # the stalled stream ends, cut short
    await asyncio.wait_for(stopping, 10)
    [shown] = keyed.fake.responses(payload["id"])
    assert shown["content"].startswith("The first\n-# openai · stopped early")
    assert "Incomplete answer" in str(shown["embeds"])


def _expire_token_at_the_final_edit(keyed: DiscordRig, payload: dict[str, str]) -> None:
    """From the first edit without a "still writing" line on, the token is refused (50027)."""
    expired = Fault.http(401, {"message": "Invalid Webhook Token", "code": 50027})
    state = {"expired": False}

    def policy(request: RecordedRequest) -> Fault | None:
        if payload["token"] not in request.path:
            return None
        if request.method == "PATCH" and b"still writing" not in request.body:
            state["expired"] = True
        return expired if state["expired"] else None

    keyed.fake.set_fault_policy(policy)


async def test_an_answer_whose_final_edit_fails_is_sent_anew_in_the_channel(
    keyed: DiscordRig, caplog: pytest.LogCaptureFixture
) -> None:
    keyed.engine.fakes["openai"].reply(text="one two three four five six")
    payload = keyed.events.command("ask", keyed.events.options(prompt="Count"))
    _expire_token_at_the_final_edit(keyed, payload)
    with caplog.at_level(logging.WARNING):
        await keyed.interact(payload)
    # The "still writing" response stays: with its token expired it can't be deleted.
    [stale, answer] = keyed.fake.from_bot(CHANNEL_ID)
    assert "still writing" in stale["content"]
    assert answer["content"].startswith("one two three four five six")
    assert "still writing" not in answer["content"]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sent it in the channel instead" in r.getMessage() for r in warned)


async def test_a_private_answer_whose_final_edit_fails_is_sent_by_dm_not_in_the_channel(
    keyed: DiscordRig,
) -> None:
    keyed.engine.fakes["openai"].reply(text="only for Alice")
    payload = keyed.events.command("ask", keyed.events.options(prompt="Hi", private=True))
    _expire_token_at_the_final_edit(keyed, payload)
    await keyed.interact(payload)
    assert keyed.fake.from_bot(CHANNEL_ID) == []
    [answer] = keyed.fake.from_bot(keyed.fake.dm_channels[ALICE["id"]])
    assert answer["content"].startswith("only for Alice")


async def test_a_channel_answer_whose_final_edit_fails_is_posted_again(
    keyed: DiscordRig,
) -> None:
    keyed.engine.fakes["openai"].reply(text="alpha beta gamma delta")

    def policy(request: RecordedRequest) -> Fault | None:
        final = request.method == "PATCH" and b"still writing" not in request.body
        return Fault.http(503) if final and "/messages/" in request.path else None

    keyed.fake.set_fault_policy(policy)
    await keyed.post(keyed.events.message("go", mention=True))
    [answer] = keyed.fake.from_bot(CHANNEL_ID)  # the stale "still writing" one is gone
    assert answer["content"].startswith("alpha beta gamma delta")
    assert "still writing" not in answer["content"]
