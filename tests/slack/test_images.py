"""Images shared with a mention, in a DM, in the assistant pane or a thread go to /ask.

Downloaded from the fake Slack's file host with the bot token, which goes to Slack only:
never to a provider, never to a log. A file Slack calls an image that is not one is
refused with one clear line, nothing sent, nothing billed.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from bot.bounds import MAX_IMAGE_FILE_BYTES
from tests.slack.conftest import CHANNEL, SlackRig
from tests.slack.test_events import DM, dm, mention


def _png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "PNG")
    return out.getvalue()


def _image_file(slack: SlackRig, name: str, content: bytes) -> dict[str, object]:
    return slack.fake.share_file(name, content, mimetype="image/png", filetype="png")


def _nowhere_but_slack(slack: SlackRig, caplog: pytest.LogCaptureFixture) -> None:
    """The bot token is in no provider fake's request and no log line."""
    token = slack.bot_token
    for provider in slack.rig.fakes:
        for request in slack.rig.fakes[provider].requests:
            assert token.encode() not in request.body
            assert token not in request.path and token not in request.query_string
            assert all(token not in value for value in request.headers.values())
    assert token not in caplog.text
    for record in caplog.records:
        assert token not in record.getMessage()


async def test_an_image_shared_with_a_mention_reaches_the_provider_as_an_image(
    slack: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="An orange rectangle.")
    picture = _png()
    file = _image_file(slack, "photo.png", picture)

    await slack.event(mention("--provider openai what is this?", files=[file]))
    await slack.settle()

    (download,) = slack.fake.requests_to("/files-pri/")
    assert download.headers["Authorization"] == f"Bearer {slack.bot_token}"
    sent = slack.rig.fakes["openai"].requests_to("/chat/completions")[-1].json()
    content = sent["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["image_url"]["url"] == (
        "data:image/png;base64," + base64.b64encode(picture).decode()
    )
    assert [(i.width, i.height) for i in slack.rig.fakes["openai"].images_seen] == [(64, 32)]
    (message,) = slack.fake.messages[CHANNEL]
    assert message["streamed"] == "An orange rectangle."
    assert len(await slack.rig.usage_rows()) == 1
    _nowhere_but_slack(slack, caplog)


async def test_an_image_in_a_dm_with_no_words_is_asked_about(
    slack: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("anthropic")
    slack.rig.fakes["anthropic"].reply(text="A picture.")
    file = _image_file(slack, "shot.png", _png())

    await slack.event(dm("", subtype="file_share", files=[file]))
    await slack.settle()

    sent = slack.rig.fakes["anthropic"].requests_to("/v1/messages")[-1].json()
    blocks = sent["messages"][-1]["content"]
    assert {"type": "text", "text": "What is in this image?"} in blocks
    assert any(b["type"] == "image" for b in blocks)
    assert "A picture." in slack.fake.texts(DM)[0]
    _nowhere_but_slack(slack, caplog)


async def test_an_image_in_the_assistant_pane_goes_with_the_question(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="Seen.")
    file = _image_file(slack, "diagram.png", _png())
    thread = "1700000400.000100"

    await slack.event(
        {
            "type": "message", "subtype": "file_share", "channel_type": "im", "user": "U111",
            "text": "--provider openai explain the diagram", "ts": "1700000400.000200",
            "thread_ts": thread, "channel": "D0ASSIST", "event_ts": "1700000400.000200",
            "files": [file],
        }
    )  # fmt: skip
    await slack.settle()

    sent = slack.rig.fakes["openai"].requests_to("/chat/completions")[-1].json()
    content = sent["messages"][-1]["content"]
    assert content[0]["text"] == "explain the diagram" and content[1]["type"] == "image_url"
    (message,) = slack.fake.messages["D0ASSIST"]
    assert message["thread_ts"] == thread


async def test_an_image_on_a_thread_reply_keeps_the_thread(slack: SlackRig) -> None:
    await slack.add_key("openai")
    slack.rig.fakes["openai"].reply(text="In the thread.")
    file = _image_file(slack, "reply.png", _png())
    root = "1700000000.000000"

    await slack.event(mention("--provider openai and this one?", thread_ts=root, files=[file]))
    await slack.settle()

    sent = slack.rig.fakes["openai"].requests_to("/chat/completions")[-1].json()
    assert sent["messages"][-1]["content"][1]["type"] == "image_url"
    assert slack.fake.messages[CHANNEL][0]["thread_ts"] == root


async def test_a_non_image_named_png_is_refused_and_nothing_is_billed(
    slack: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.add_key("openai")
    file = _image_file(slack, "notes.png", b"meeting notes, not a picture")

    await slack.event(mention("--provider openai what is this?", files=[file]))
    await slack.settle()

    shown = json.dumps([c.args for c in slack.fake.calls]) + "\n".join(slack.fake.texts(CHANNEL))
    assert "notes.png is not an image that can be read (PNG, JPEG, GIF or WebP)." in shown
    assert not slack.rig.fakes["openai"].requests_to("/chat/completions")
    assert await slack.rig.usage_rows() == []
    _nowhere_but_slack(slack, caplog)


async def test_an_image_too_large_is_refused_before_downloading(slack: SlackRig) -> None:
    await slack.add_key("openai")
    file = _image_file(slack, "huge.png", _png())
    file["size"] = MAX_IMAGE_FILE_BYTES + 1

    await slack.event(mention("--provider openai what is this?", files=[file]))
    await slack.settle()

    assert not slack.fake.requests_to("/files-pri/")
    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert "`huge.png` is larger than an image may be (25 MB)." in told["text"]
    assert not slack.rig.fakes["openai"].requests_to("/chat/completions")


async def test_an_image_url_off_slack_gets_no_token(slack: SlackRig) -> None:
    file = _image_file(slack, "photo.png", _png())
    file["url_private_download"] = "https://evil.example/steal.png"

    await slack.event(dm("", subtype="file_share", files=[file]))
    await slack.settle()

    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert "could not download `photo.png`" in told["text"]
