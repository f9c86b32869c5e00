"""Images in questions: checked once when they arrive, fitted to each provider's limits.

:func:`check_image` takes the bytes a user attached (any file) and either returns an
:class:`~byok.types.ImageInput` or raises :class:`~byok.errors.ImageError` with a message a
user can act on, before anything is sent or billed. The format is read from the bytes
(Pillow), never from the file name or the platform's declared type; PNG, JPEG, GIF and
WebP are taken. A file too large to be an attachment we read, one that does not decode,
or a decompression bomb (more than ``Image.MAX_IMAGE_PIXELS`` pixels, checked from the
header before any pixel is decoded) is refused.

:func:`fit_messages` then fits every image of a request to one provider's
:class:`~byok.providers.builtins.ImageLimits` (its record in
:mod:`byok.providers.builtins`): scaled down to the longest side and pixel count it reads,
re-encoded when its format is one the provider does not take or it is an animated GIF (the
first frame is sent), and made smaller still when its bytes are over the limit. Too many
images, or more bytes in all than the provider takes in one request, is an
:class:`~byok.errors.ImageError`, again before any call.

:func:`image_tokens` is the most input tokens one image can count as at a provider, from
its documented formula: the worst-case estimate a spending limit is checked against
(:func:`byok.pricing.estimate_input_tokens`) includes it. The tokens billed are those the
provider reports.
"""

from __future__ import annotations

import asyncio
import io
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import replace

from PIL import Image, ImageOps, UnidentifiedImageError

from byok.errors import ImageError
from byok.providers.builtins import DEFAULT_IMAGES, ImageLimits, builtin_record
from byok.types import ChatMessage, ImageInput

__all__ = [
    "MAX_IMAGE_FILE_BYTES",
    "SUPPORTED_FORMATS",
    "check_image",
    "fit_image",
    "fit_messages",
    "fitted_size",
    "image_limits",
    "image_tokens",
    "sees_images",
]

#: The largest image file read at all (an attachment, a download, a console file): larger
#: than any provider takes, so a bigger one is refused rather than read.
MAX_IMAGE_FILE_BYTES = 25 * 1024 * 1024

#: Pillow's format names of the images taken, and their media types.
SUPPORTED_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}

_JPEG_QUALITY = 85
_SHRINK_STEPS = 8


def image_limits(provider_id: str) -> ImageLimits:
    """What ``provider_id`` takes as images (an operator-added endpoint: OpenAI's)."""
    record = builtin_record(provider_id)
    return record.images if record is not None else DEFAULT_IMAGES


def sees_images(provider_id: str, model: str) -> bool | None:
    """Whether ``model`` of ``provider_id`` is known to read images: True, False, or None
    when not known (an operator-added endpoint, whose models nobody listed)."""
    record = builtin_record(provider_id)
    if record is None:
        return None
    if record.vision_models is None:
        return False
    return re.match(record.vision_models, model) is not None


# --- checking what arrived -------------------------------------------------------------------


def check_image(data: bytes, name: str = "") -> ImageInput:
    """``data`` as an image (PNG, JPEG, GIF or WebP, read from the bytes), or ImageError."""
    label = name or "the attachment"
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise ImageError(
            f"image too large: {len(data)} bytes",
            explanation=(
                f"{label} is {_mb(len(data))}; images up to {_mb(MAX_IMAGE_FILE_BYTES)} are read."
            ),
            advice=("Send a smaller image (a screenshot or a resized photo).",),
        )
    try:
        with _open(data) as image:
            fmt = image.format or ""
            width, height = image.size
            image.load()  # decodes: a truncated or corrupt file fails here, not at a provider
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _not_an_image(label) from exc
    media_type = SUPPORTED_FORMATS.get(fmt)
    if media_type is None:
        raise ImageError(
            f"unsupported image format {fmt}",
            explanation=f"{label} is a {fmt} image; PNG, JPEG, GIF and WebP are supported.",
            advice=("Convert it to PNG or JPEG and send it again.",),
        )
    return ImageInput(media_type, data, width, height, name)


def _open(data: bytes) -> Image.Image:
    """Pillow's lazy open, with a decompression bomb an error rather than a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(
                "decompression bomb",
                explanation="That image has far too many pixels to be read.",
                advice=("Send a smaller image.",),
            ) from exc


def _not_an_image(label: str) -> ImageError:
    return ImageError(
        "not an image",
        explanation=f"{label} is not an image that can be read (PNG, JPEG, GIF or WebP).",
        advice=("Attach the picture itself, not a link or another kind of file.",),
    )


# --- fitting to a provider --------------------------------------------------------------------


def fitted_size(width: int, height: int, limits: ImageLimits) -> tuple[int, int]:
    """The size an image of ``width`` x ``height`` is sent at to a provider with ``limits``."""
    scale = min(1.0, limits.max_side / max(width, height, 1))
    if limits.max_pixels is not None and width * height * scale * scale > limits.max_pixels:
        scale = math.sqrt(limits.max_pixels / (width * height))
    if scale >= 1.0:
        return width, height
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def fit_image(image: ImageInput, limits: ImageLimits) -> ImageInput:
    """``image`` as a provider with ``limits`` takes it: unchanged when it already fits."""
    size = fitted_size(image.width, image.height, limits)
    with _open(image.data) as opened:
        animated = getattr(opened, "is_animated", False)
        rotated = _orientation(opened) not in (None, 1)
        fits = (
            size == (image.width, image.height)
            and image.media_type in limits.formats
            and not animated
            and not rotated
            and len(image.data) <= limits.max_image_bytes
        )
        if fits:
            return image
        opened.seek(0)  # an animated GIF: its first frame
        frame = ImageOps.exif_transpose(opened.copy())
    if rotated:
        size = fitted_size(frame.width, frame.height, limits)
    media_type = _target_type(image.media_type, frame, limits)
    data, width, height = _encode(frame, size, media_type)
    for _ in range(_SHRINK_STEPS):
        if len(data) <= limits.max_image_bytes:
            break
        if media_type == "image/png" and "image/jpeg" in limits.formats and not _has_alpha(frame):
            media_type = "image/jpeg"  # photos compress far better as JPEG
        else:
            size = (max(1, width * 3 // 4), max(1, height * 3 // 4))
        data, width, height = _encode(frame, size, media_type)
    if len(data) > limits.max_image_bytes:
        raise ImageError(
            "image too large after downscaling",
            explanation=f"{image.name or 'An image'} cannot be made small enough to send.",
            advice=("Send a smaller image.",),
        )
    return ImageInput(media_type, data, width, height, image.name)


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(0x0112)
    except (OSError, ValueError, SyntaxError):
        return None
    return value if isinstance(value, int) else None


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _target_type(media_type: str, frame: Image.Image, limits: ImageLimits) -> str:
    if media_type in limits.formats and media_type != "image/gif":
        return media_type
    return "image/png"  # every provider takes PNG; keeps transparency


def _encode(frame: Image.Image, size: tuple[int, int], media_type: str) -> tuple[bytes, int, int]:
    resized = frame if frame.size == size else frame.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if media_type == "image/jpeg":
        resized.convert("RGB").save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    elif media_type == "image/webp":
        resized.save(out, "WEBP", quality=_JPEG_QUALITY)
    else:
        if resized.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            resized = resized.convert("RGBA")
        resized.save(out, "PNG", optimize=True)
    return out.getvalue(), resized.width, resized.height


async def fit_messages(
    provider_id: str, messages: Sequence[ChatMessage]
) -> tuple[ChatMessage, ...]:
    """``messages`` with every image fitted to ``provider_id`` (off the event loop);
    ImageError when the request has more images, or bytes, than the provider takes."""
    if not any(m.images for m in messages):
        return tuple(messages)
    limits = image_limits(provider_id)
    count = sum(len(m.images) for m in messages)
    if count > limits.max_images:
        raise ImageError(
            f"{count} images, {provider_id} takes {limits.max_images}",
            explanation=lambda name: (
                f"{name} takes at most {limits.max_images} images in one request; "
                f"this one has {count}."
            ),
            advice=("Send fewer images.",),
            name=provider_id,
        )
    fitted = await asyncio.to_thread(_fit_all, messages, limits)
    if limits.max_total_bytes is not None:
        total = sum(4 * math.ceil(len(i.data) / 3) for m in fitted for i in m.images)
        if total > limits.max_total_bytes:
            raise ImageError(
                f"images total {total} bytes inline",
                explanation=lambda name: (
                    f"These images come to {_mb(total)}; {name} takes "
                    f"{_mb(limits.max_total_bytes or 0)} in one request."
                ),
                advice=("Send fewer or smaller images.",),
                name=provider_id,
            )
    return fitted


def _fit_all(messages: Sequence[ChatMessage], limits: ImageLimits) -> tuple[ChatMessage, ...]:
    return tuple(
        replace(m, images=tuple(fit_image(i, limits) for i in m.images)) if m.images else m
        for m in messages
    )


# --- tokens ----------------------------------------------------------------------------------


def image_tokens(provider_id: str, model: str, width: int, height: int) -> int:
    """The most input tokens an image of this size can count as at ``provider_id``, after
    fitting, by the provider's documented formula (an upper bound)."""
    limits = image_limits(provider_id)
    w, h = fitted_size(width, height, limits)
    if limits.tokens == "anthropic-area":
        return min(math.ceil(w * h / 750), 1600)
    if limits.tokens == "gemini-tiles":
        if w <= 384 and h <= 384:
            return 258
        return max(math.ceil(w / 768) * math.ceil(h / 768) * 258, 1120)
    if limits.tokens == "xai-tiles":
        return (min(math.ceil(w / 448) * math.ceil(h / 448), 6) + 1) * 256
    # OpenAI high detail: fit 2048 x 2048, then the short side to 768; 512-px tiles.
    first = min(1.0, 2048 / max(w, h))
    second = min(1.0, 768 / (min(w, h) * first))
    tiles = math.ceil(w * first * second / 512) * math.ceil(h * first * second / 512)
    base, per_tile = limits.default_tile_cost
    for prefix, prefix_base, prefix_tile in limits.tile_costs:
        if model.startswith(prefix):
            base, per_tile = prefix_base, prefix_tile
            break
    return base + per_tile * tiles


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
