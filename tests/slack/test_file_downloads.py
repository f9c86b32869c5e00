"""Transcript files are downloaded whole, and never past the transcript size limit.

Against the fake Slack's file host, and against a loopback server that streams an
endless body without announcing its size (``/dev/zero`` over HTTP).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.downloads import TooLargeError, download_capped
from adapters.slack.files import FileRefusedError, fetch_transcripts
from tests.fakes.fake_slack import FakeSlack
from tests.slack.conftest import serve

LIMIT = 40_000


def _transcript(size: int) -> bytes:
    lines = [f"Speaker{i % 4}: line {i} of the meeting.\n".encode() for i in range(size // 30)]
    return b"".join(lines) + b"Zed: the very last line.\n"


async def test_a_transcript_many_chunks_long_is_downloaded_whole(fake_slack: FakeSlack) -> None:
    content = _transcript(1_000_000)
    file = fake_slack.share_file("long.txt", content)
    token = "xoxb-" + secrets.token_hex(12)
    (attachment,) = await fetch_transcripts(
        [file], token=token, api_url=fake_slack.api_url, max_bytes=2_000_000
    )
    assert attachment.data == content  # not the first chunks only


async def test_a_file_larger_than_slack_said_is_refused_at_the_limit(
    fake_slack: FakeSlack,
) -> None:
    file = fake_slack.share_file("meeting.txt", _transcript(LIMIT * 2))
    file["size"] = 100  # what the event claims
    token = "xoxb-" + secrets.token_hex(12)
    with pytest.raises(FileRefusedError, match=r"larger than a transcript may be \(40,000 bytes\)"):
        await fetch_transcripts([file], token=token, api_url=fake_slack.api_url, max_bytes=LIMIT)


@pytest.fixture
async def endless_url() -> AsyncIterator[str]:
    """A URL streaming zeros without a Content-Length until the client hangs up."""

    async def zeros(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        while True:  # ends when the client closes the connection
            await response.write(bytes(8192))

    async with serve([web.get("/zero", zeros)]) as url:
        yield url + "/zero"


async def test_an_endless_body_is_read_no_further_than_the_limit(endless_url: str) -> None:
    with pytest.raises(TooLargeError):  # read whole, it would never return
        await download_capped(endless_url, LIMIT)
