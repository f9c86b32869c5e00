"""How the fake provider APIs judge an image in a request, as the real ones do.

Each API takes base64 PNG, JPEG, GIF or WebP and refuses, with a 400, base64 that does not
decode, bytes that are not an image, bytes whose real format is not the media type
declared, and images beyond its limits. The real format is read from the bytes by Pillow,
as the services do; the fakes record every image they accepted in ``images_seen``.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

__all__ = ["SeenImage", "decode_image"]

_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True)
class SeenImage:
    media_type: str
    width: int
    height: int
    size: int


def decode_image(data: str, media_type: str, *, url_safe: bool = False) -> SeenImage | str:
    """The image in base64 ``data`` claimed to be ``media_type``, or why it is refused.

    ``url_safe``: the URL-safe alphabet is accepted too, as protobuf's JSON mapping does for
    ``bytes`` (Gemini; google-genai sends it so).
    """
    if url_safe:
        data = data.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "the image data is not valid base64"
    if media_type not in _FORMATS.values():
        return f"unsupported image media type {media_type!r}"
    try:
        with Image.open(io.BytesIO(raw)) as image:
            real = _FORMATS.get(image.format or "")
            size = image.size
    except (UnidentifiedImageError, OSError):
        return "the data is not a valid image"
    if real is None:
        return "unsupported image format"
    if real != media_type:
        return (
            f"the image was specified using the {media_type} media type, "
            f"but the image appears to be a {real} image"
        )
    return SeenImage(real, size[0], size[1], len(raw))
