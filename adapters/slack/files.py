"""Transcript and image files shared with the bot: downloaded from Slack with the bot token.

The token is sent only to Slack's own hosts (or the configured API host), never to
whatever a file's URL names; a file larger than a transcript (or an image) may be is not
read: not when Slack says so, and not past the limit when it is larger than Slack said.

An image is recognised by Slack's ``mimetype`` or ``filetype``; whether it really is one is
read from its bytes by /ask (:func:`byok.images.check_image`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from adapters.downloads import DownloadFailedError, TooLargeError, download_capped
from bot.bounds import MAX_IMAGE_FILE_BYTES
from bot.commands.summarize import SUPPORTED
from bot.invocation import Attachment
from bot.summaries.transcripts import too_large_message

__all__ = [
    "MAX_IMAGES_PER_MESSAGE",
    "FileRefusedError",
    "fetch_images",
    "fetch_transcripts",
    "image_files",
    "is_image",
    "is_transcript",
    "transcript_files",
]

log = logging.getLogger(__name__)

_SLACK_HOSTS = ("slack.com", "slack-gov.com", "slack-edge.com")
_IMAGE_FILETYPES = frozenset({"png", "jpg", "jpeg", "gif", "webp"})

#: The most images read from one message: Slack attaches at most 10 files to a message.
MAX_IMAGES_PER_MESSAGE = 10


class FileRefusedError(Exception):
    """A shared file the bot will not read; the message is for the user."""


def is_transcript(file: Mapping[str, Any]) -> bool:
    return str(file.get("name") or "").lower().endswith(SUPPORTED)


def transcript_files(files: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [f for f in files if is_transcript(f)]


def is_image(file: Mapping[str, Any]) -> bool:
    """An image by what Slack says of it (``image/*``, or a PNG/JPEG/GIF/WebP filetype)."""
    mimetype = str(file.get("mimetype") or "").lower()
    filetype = str(file.get("filetype") or "").lower()
    return mimetype.startswith("image/") or filetype in _IMAGE_FILETYPES


def image_files(files: object) -> list[Mapping[str, Any]]:
    """The images among an event's ``files`` (what is not a file object is skipped)."""
    listed = files if isinstance(files, list | tuple) else ()
    return [f for f in listed if isinstance(f, Mapping) and is_image(f)]


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
    data = await _download(
        chosen, name, token=token, api_url=api_url, max_bytes=max_bytes,
        too_large=too_large_message(name, max_bytes), timeout_s=timeout_s,
    )  # fmt: skip
    return (Attachment(name, data, str(chosen.get("mimetype") or "") or None),)


async def fetch_images(
    files: object,
    *,
    token: str,
    api_url: str,
    max_bytes: int = MAX_IMAGE_FILE_BYTES,
    timeout_s: float = 30.0,
) -> tuple[Attachment, ...]:
    """Download the images among ``files``, each of at most ``max_bytes``.

    One that Slack says is larger is refused before anything is downloaded.
    """
    wanted = image_files(files)
    if len(wanted) > MAX_IMAGES_PER_MESSAGE:
        raise FileRefusedError(f"I read at most {MAX_IMAGES_PER_MESSAGE} images from one message.")
    names = [str(f.get("name") or "image") for f in wanted]
    for file, name in zip(wanted, names, strict=True):
        size = file.get("size")
        if isinstance(size, int) and size > max_bytes:
            raise FileRefusedError(_image_too_large(name, max_bytes))
    found: list[Attachment] = []
    for file, name in zip(wanted, names, strict=True):
        data = await _download(
            file, name, token=token, api_url=api_url, max_bytes=max_bytes,
            too_large=_image_too_large(name, max_bytes), timeout_s=timeout_s,
        )  # fmt: skip
        found.append(Attachment(name, data, str(file.get("mimetype") or "") or None))
    return tuple(found)


def _image_too_large(name: str, max_bytes: int) -> str:
    return f"`{name}` is larger than an image may be ({max_bytes // (1024 * 1024)} MB)."


async def _download(
    file: Mapping[str, Any],
    name: str,
    *,
    token: str,
    api_url: str,
    max_bytes: int,
    too_large: str,
    timeout_s: float,
) -> bytes:
    """The file's bytes, with the bot token sent to Slack's hosts only."""
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    if not url or not _trusted(url, api_url):
        raise FileRefusedError(f"I could not download `{name}` from Slack.")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        return await download_capped(url, max_bytes, headers=headers, timeout_s=timeout_s)
    except TooLargeError:
        raise FileRefusedError(too_large) from None
    except DownloadFailedError as exc:
        log.info("slack: file download failed (HTTP %s)", exc.status)
        answer = f" (HTTP {exc.status})" if exc.status else ""
        raise FileRefusedError(f"Slack would not give me `{name}`{answer}.") from None
