"""Image attachments for /ask: recognised by Discord's content type or the file's name,
downloaded bounded as transcripts are (:func:`adapters.downloads.download_capped`).

Whether each really is an image is read from its bytes by /ask
(:func:`byok.images.check_image`); here a file larger than an image may be is refused
before it is downloaded (by the size Discord announces) or at the limit (when it is
larger than announced).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import discord

from adapters.downloads import DownloadFailedError, TooLargeError, download_capped
from bot.bounds import MAX_IMAGE_FILE_BYTES
from bot.invocation import Attachment

__all__ = ["MAX_IMAGES_PER_MESSAGE", "ImageRefusedError", "download_images", "image_attachments"]

log = logging.getLogger(__name__)

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")

#: The most images read from one message: Discord attaches at most 10 files to a message.
MAX_IMAGES_PER_MESSAGE = 10


class ImageRefusedError(Exception):
    """An image attachment the bot will not read; the message is for the user."""


def is_image(attachment: discord.Attachment) -> bool:
    content_type = (attachment.content_type or "").lower()
    return content_type.startswith("image/") or attachment.filename.lower().endswith(
        _IMAGE_SUFFIXES
    )


def image_attachments(attachments: Sequence[discord.Attachment]) -> list[discord.Attachment]:
    return [a for a in attachments if is_image(a)]


def _too_large(name: str, limit: int) -> str:
    return f"`{name}` is larger than an image may be ({limit // (1024 * 1024)} MB)."


async def download_images(
    attachments: Sequence[discord.Attachment], limit: int = MAX_IMAGE_FILE_BYTES
) -> tuple[Attachment, ...]:
    """Each attachment's bytes, at most ``limit`` of each, or ImageRefusedError."""
    if len(attachments) > MAX_IMAGES_PER_MESSAGE:
        raise ImageRefusedError(f"I read at most {MAX_IMAGES_PER_MESSAGE} images at once.")
    for file in attachments:
        if file.size > limit:  # as Discord announces it: not even downloaded
            raise ImageRefusedError(_too_large(file.filename, limit))
    found: list[Attachment] = []
    for file in attachments:
        try:
            data = await download_capped(file.url, limit)
        except TooLargeError:
            raise ImageRefusedError(_too_large(file.filename, limit)) from None
        except DownloadFailedError as exc:
            log.warning("downloading an image failed: HTTP %s", exc.status)
            raise ImageRefusedError(
                f"I couldn't download `{file.filename}` from Discord; please try again."
            ) from None
        found.append(Attachment(file.filename, data, file.content_type))
    return tuple(found)
