"""Transcript files shared with the bot: downloaded from Slack with the bot token.

The token is sent only to Slack's own hosts (or the configured API host), never to
whatever a file's URL names; a file larger than a transcript may be is not read: not when
Slack says so, and not past the limit when it is larger than Slack said.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from adapters.downloads import DownloadFailedError, TooLargeError, download_capped
from bot.commands.summarize import SUPPORTED
from bot.invocation import Attachment
from bot.summaries.transcripts import too_large_message

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
    files: object,
    *,
    token: str,
    api_url: str,
    max_bytes: int,
    timeout_s: float = 30.0,
) -> tuple[Attachment, ...]:
    """Download the first transcript among ``files`` (others are named but not read).

    What is not a list of file objects (a malformed event) is skipped.
    """
    listed = files if isinstance(files, list | tuple) else ()
    wanted = [f for f in listed if isinstance(f, Mapping)]
    if not wanted:
        return ()
    chosen = next((f for f in wanted if is_transcript(f)), None)
    if chosen is None:
        # An unsupported file: the summarize command explains which types it reads.
        return (Attachment(str(wanted[0].get("name") or "file"), b""),)
    name = str(chosen.get("name") or "transcript.txt")
    size = chosen.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise FileRefusedError(too_large_message(name, max_bytes))
    url = str(chosen.get("url_private_download") or chosen.get("url_private") or "")
    if not url or not _trusted(url, api_url):
        raise FileRefusedError(f"I could not download `{name}` from Slack.")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        data = await download_capped(url, max_bytes, headers=headers, timeout_s=timeout_s)
    except TooLargeError:
        raise FileRefusedError(too_large_message(name, max_bytes)) from None
    except DownloadFailedError as exc:
        log.info("slack: file download failed (HTTP %s)", exc.status)
        answer = f" (HTTP {exc.status})" if exc.status else ""
        raise FileRefusedError(f"Slack would not give me `{name}`{answer}.") from None
    return (Attachment(name, data, str(chosen.get("mimetype") or "") or None),)
