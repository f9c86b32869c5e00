"""Transcript files shared with the bot: downloaded from Slack with the bot token.

The token is sent only to Slack's own hosts (or the configured API host), never to
whatever a file's URL names; files larger than a transcript may be are not read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

import aiohttp

from bot.commands.summarize import SUPPORTED
from bot.invocation import Attachment

__all__ = ["FileRefusedError", "fetch_transcripts", "is_transcript", "transcript_files"]

log = logging.getLogger(__name__)

_SLACK_HOSTS = ("slack.com", "slack-gov.com", "slack-edge.com")


class FileRefusedError(Exception):
    """A shared file the bot will not read; the message is for the user."""


def is_transcript(file: Mapping[str, Any]) -> bool:
    return str(file.get("name") or "").lower().endswith(SUPPORTED)


def transcript_files(files: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [f for f in files if is_transcript(f)]


def _trusted(url: str, api_url: str) -> bool:
    host = urlparse(url).hostname or ""
    api_host = urlparse(api_url).hostname or ""
    if host == api_host:
        return True
    return any(host == h or host.endswith("." + h) for h in _SLACK_HOSTS)


async def fetch_transcripts(
    files: Iterable[Mapping[str, Any]],
    *,
    token: str,
    api_url: str,
    max_bytes: int,
    timeout_s: float = 30.0,
) -> tuple[Attachment, ...]:
    """Download the first transcript among ``files`` (others are named but not read)."""
    wanted = list(files)
    if not wanted:
        return ()
    chosen = next((f for f in wanted if is_transcript(f)), None)
    if chosen is None:
        # An unsupported file: the summarize command explains which types it reads.
        return (Attachment(str(wanted[0].get("name") or "file"), b""),)
    name = str(chosen.get("name") or "transcript.txt")
    size = int(chosen.get("size") or 0)
    if size > max_bytes:
        raise FileRefusedError(
            f"`{name}` is larger than a transcript may be ({max_bytes:,} bytes)."
        )
    url = str(chosen.get("url_private_download") or chosen.get("url_private") or "")
    if not url or not _trusted(url, api_url):
        raise FileRefusedError(f"I could not download `{name}` from Slack.")
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, headers=headers) as response,
    ):
        if response.status != 200:
            log.info("slack: file download answered HTTP %s", response.status)
            raise FileRefusedError(f"Slack would not give me `{name}` (HTTP {response.status}).")
        data = await response.content.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRefusedError(
            f"`{name}` is larger than a transcript may be ({max_bytes:,} bytes)."
        )
    return (Attachment(name, data, str(chosen.get("mimetype") or "") or None),)
