"""SlackMessenger: the bot's own DMs (digests, alerts), with files such as a chart."""

from __future__ import annotations

import struct
import zlib

import pytest

from bot.messenger import DeliveryError, Messenger
from bot.reply import FileOut, Reply, Section
from byok.types import UserRef
from tests.slack.conftest import SlackRig

ALICE = UserRef("slack", "T111", "U111")


def _png() -> bytes:
    """A real 1x1 PNG, built here rather than committed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def test_a_digest_with_a_chart_arrives_by_dm(slack: SlackRig) -> None:
    messenger = slack.adapter.messenger
    assert isinstance(messenger, Messenger) and messenger.platform == "slack"
    chart = _png()
    reply = Reply(
        title="Your week",
        text="12 requests, $0.42.",
        sections=(Section(title="By provider", bullets=("openai: $0.40", "xai: $0.02")),),
        files=(FileOut("spend.png", chart, "image/png", "Spend by day"),),
    )

    await messenger.send_dm(ALICE, reply)

    (opened,) = slack.fake.calls_to("conversations.open")
    assert opened.args["users"] == "U111"
    assert "openai: $0.40" in slack.fake.texts("D111")[0]
    (ticket,) = slack.fake.calls_to("files.getUploadURLExternal")
    assert ticket.args["filename"] == "spend.png" and int(ticket.args["length"]) == len(chart)
    assert list(slack.fake.uploads.values()) == [chart]
    (complete,) = slack.fake.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == "D111"
    assert complete.args["files"][0]["title"] == "Spend by day"


@pytest.mark.parametrize(
    ("error", "retryable"),
    [("ratelimited", True), ("user_not_found", False), ("cannot_dm_bot", False)],
)
async def test_refusals_become_delivery_errors(
    slack: SlackRig, error: str, retryable: bool
) -> None:
    slack.fake.fail("chat.postMessage", error)

    with pytest.raises(DeliveryError) as caught:
        await slack.adapter.messenger.send_dm(ALICE, Reply(text="hi"))

    assert caught.value.retryable is retryable and error in str(caught.value)
