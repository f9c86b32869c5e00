"""Images attached to a message to the bot (mention, DM, reply) or to ``/ask``'s ``image``
option go with the question: downloaded bounded from the fake Discord's CDN, checked from
their bytes, sent to the provider as an image; a file that is not an image is refused with
one clear line, nothing sent, nothing billed."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from bot.bounds import MAX_IMAGE_FILE_BYTES
from tests.discord.conftest import DiscordRig
from tests.fakes.discord_events import ALICE, CHANNEL_ID


def _png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "PNG")
    return out.getvalue()


def _last_user_content(discord: DiscordRig) -> list[dict[str, object]]:
    body = discord.engine.fakes["openai"].requests_to("/chat/completions")[-1].json()
    content: list[dict[str, object]] = body["messages"][-1]["content"]
    return content


async def test_an_image_with_a_mention_reaches_the_provider_as_an_image(
    discord: DiscordRig,
) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].reply(text="An orange rectangle.")
    picture = _png()
    image = discord.fake.host_file("photo.png", picture, "image/png")
    message = discord.events.message("what is this?", mention=True, attachments=[image])
    await discord.post(message)

    assert discord.fake.requests_to(f"/attachments/{image['id']}/photo.png", "GET")
    content = _last_user_content(discord)
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["image_url"] == {
        "url": "data:image/png;base64," + base64.b64encode(picture).decode()
    }
    assert [(i.width, i.height) for i in discord.engine.fakes["openai"].images_seen] == [(64, 32)]
    [answer] = discord.fake.from_bot(CHANNEL_ID)
    assert answer["content"].startswith("An orange rectangle.")
    assert len(await discord.engine.usage_rows()) == 1


async def test_an_image_alone_in_a_dm_is_asked_about(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].reply(text="A picture.")
    image = discord.fake.host_file("shot.webp", _png(), "image/png")  # the bytes decide
    await discord.post(discord.events.message("", dm=True, attachments=[image]))

    content = _last_user_content(discord)
    assert content[0] == {"type": "text", "text": "What is in this image?"}
    assert content[1]["type"] == "image_url"


async def test_an_image_on_a_reply_to_the_bot_goes_with_the_follow_up(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].reply(text="Hello.")
    discord.engine.fakes["openai"].reply(text="Orange.")
    await discord.post(discord.events.message("hi", mention=True))
    answer = discord.fake.from_bot(CHANNEL_ID)[-1]
    image = discord.fake.host_file("reply.png", _png(), "image/png")
    await discord.post(
        discord.events.message("and this?", reply_to=answer, mention=True, attachments=[image])
    )

    content = _last_user_content(discord)
    assert content[0]["text"] == "and this?" and content[1]["type"] == "image_url"


async def test_ask_takes_an_image_option(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].reply(text="A chart.")
    image = discord.fake.host_file("chart.png", _png(), "image/png")
    payload = discord.events.command(
        "ask",
        discord.events.options(prompt="explain"),
        attachment=image,
        attachment_option="image",
    )
    await discord.interact(payload)

    assert discord.callbacks(payload) == [{"type": 5}]
    assert discord.fake.requests_to(f"/attachments/{image['id']}/chart.png", "GET")
    content = _last_user_content(discord)
    assert content[0]["text"] == "explain" and content[1]["type"] == "image_url"
    assert "A chart." in json.dumps(discord.fake.responses(payload["id"]))


async def test_a_non_image_named_png_is_refused_and_nothing_is_billed(
    discord: DiscordRig,
) -> None:
    await discord.add_key("openai")
    fake = discord.fake.host_file("notes.png", b"meeting notes, not a picture", "image/png")
    await discord.post(discord.events.message("what is it?", mention=True, attachments=[fake]))

    assert not discord.fake.from_bot(CHANNEL_ID)  # an error goes to the user alone, by DM
    dm_channel = discord.fake.dm_channels[ALICE["id"]]
    shown = json.dumps(discord.fake.from_bot(dm_channel), ensure_ascii=False)
    assert "notes.png is not an image that can be read (PNG, JPEG, GIF or WebP)." in shown
    assert not discord.engine.fakes["openai"].requests_to("/chat/completions")
    assert await discord.engine.usage_rows() == []


async def test_an_image_too_large_is_refused_without_downloading_it(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    big = discord.fake.host_file("huge.png", _png(), "image/png")
    big["size"] = MAX_IMAGE_FILE_BYTES + 1
    payload = discord.events.command(
        "ask", discord.events.options(prompt="what?"), attachment=big, attachment_option="image"
    )
    await discord.interact(payload)

    assert not discord.fake.requests_to("/attachments/", "GET")
    shown = json.dumps(discord.fake.responses(payload["id"]), ensure_ascii=False)
    assert "`huge.png` is larger than an image may be (25 MB)." in shown
    assert not discord.engine.fakes["openai"].requests_to("/chat/completions")
