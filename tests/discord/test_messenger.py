"""DMs on the bot's own initiative (digests, alerts) through the Messenger protocol."""

from __future__ import annotations

import pytest

from bot.messenger import DeliveryError, Messenger
from bot.reply import FileOut, Reply, Section
from byok.types import UserRef
from tests.discord.conftest import DiscordRig, user_ref
from tests.fakes.fake_discord import parse_body
from tests.fakes.loopback import Fault, RecordedRequest

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


async def test_a_digest_with_a_chart_arrives_as_a_dm_with_an_attachment(
    discord: DiscordRig,
) -> None:
    messenger = discord.adapter.messenger
    assert isinstance(messenger, Messenger) and messenger.platform == "discord"
    digest = Reply(
        title="Your week",
        text="12 requests, $0.42.",
        sections=(Section(title="openai — $0.40", bullets=("gpt-4o: 10 requests",)),),
        files=(FileOut("spend.png", PNG, "image/png", title="Spend by week"),),
    )
    await messenger.send_dm(user_ref(), digest)
    [opened] = discord.fake.requests_to("/users/@me/channels", "POST")
    assert opened.json() == {"recipient_id": int(user_ref().user)}
    channel = discord.fake.dm_channels[user_ref().user]
    [sent] = discord.fake.requests_to(f"/channels/{channel}/messages", "POST")
    assert sent.headers["Content-Type"].startswith("multipart/form-data")
    payload, files = parse_body(sent)
    assert payload["embeds"][0]["title"] == "Your week"
    assert files == [("spend.png", PNG)]
    [message] = discord.fake.from_bot(channel)
    assert message["attachments"][0]["filename"] == "spend.png"


async def test_a_user_who_refuses_dms_is_a_permanent_failure(discord: DiscordRig) -> None:
    discord.fake.inject(
        Fault.http(403, {"message": "Cannot send messages to this user", "code": 50007}),
        path="/messages",
    )
    with pytest.raises(DeliveryError) as raised:
        await discord.adapter.messenger.send_dm(user_ref(), Reply(text="Hi"))
    assert raised.value.retryable is False
    assert "50007" in str(raised.value)


async def test_only_discord_users_can_be_reached(discord: DiscordRig) -> None:
    with pytest.raises(DeliveryError) as raised:
        await discord.adapter.messenger.send_dm(UserRef("slack", "T1", "U1"), Reply(text="Hi"))
    assert raised.value.retryable is False
    assert not discord.fake.requests_to("/users/@me/channels")


async def test_a_rate_limited_dm_is_retried(discord: DiscordRig) -> None:
    discord.fake.rate_limit("/messages", retry_after=0.01)
    await discord.adapter.messenger.send_dm(user_ref(), Reply(text="Your limit is near."))
    [message] = discord.fake.from_bot(discord.fake.dm_channels[user_ref().user])
    assert "Your limit is near." in str(message["embeds"])


async def test_a_dm_cut_off_after_its_first_message_is_not_sent_again(
    discord: DiscordRig,
) -> None:
    posts: list[str] = []

    def fail_the_second_message(request: RecordedRequest) -> Fault | None:
        if request.method == "POST" and request.path.endswith("/messages"):
            posts.append(request.path)
            if len(posts) == 2:
                return Fault.http(503, {"message": "Service Unavailable", "code": 0})
        return None

    discord.fake.set_fault_policy(fail_the_second_message)
    long = Reply(
        title="Your week", text="\n\n".join(f"Paragraph {n}. " + "x" * 900 for n in range(12))
    )
    # The first message is out: a retry would repeat it, so the DM counts as delivered.
    await discord.adapter.messenger.send_dm(user_ref(), long)
    assert len(posts) == 2
    [first] = discord.fake.from_bot(discord.fake.dm_channels[user_ref().user])
    assert "Paragraph 0." in str(first)
