"""Downloading a file a user shared, never reading more of it than a limit.

The size a platform announces is checked first, but the body is what counts: it is
read in chunks and the download stops as soon as it passes the limit, so a file larger
than announced (or without any announced size) costs at most ``limit + 1`` bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

__all__ = ["DownloadFailedError", "TooLargeError", "download_capped"]

_CHUNK = 1 << 16


class TooLargeError(Exception):
    """The file is larger than the limit; nothing past ``limit + 1`` bytes was read."""


class DownloadFailedError(Exception):
    """The file could not be fetched; ``status`` is the HTTP status, None without one."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"download failed (HTTP {status})" if status else "download failed")
        self.status = status


async def download_capped(
    url: str,
    limit: int,
    *,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> bytes:
    """The body at ``url``, of at most ``limit`` bytes.

    Raises :class:`TooLargeError` past the limit, :class:`DownloadFailedError` for any
    other answer than 200 or a connection that fails.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=dict(headers or {})) as response,
        ):
            if response.status != 200:
                raise DownloadFailedError(response.status)
            if response.content_length is not None and response.content_length > limit:
                raise TooLargeError
            return await _read_at_most(response.content, limit)
    except (aiohttp.ClientError, TimeoutError):
        raise DownloadFailedError(None) from None


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    body = bytearray()
    async for chunk in content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise TooLargeError
    return bytes(body)
