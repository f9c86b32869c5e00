"""The built-in providers: one record each, and every fact the code knows about them.

The registry, pricing, key-shape checks (:mod:`byok.secret`), ``--model`` alone, the
config's ids and environment variables, display names and chart colours all read
:data:`BUILTIN_RECORDS`; nothing else lists the built-in providers.

Adding a provider that speaks the OpenAI-compatible wire is one more :class:`BuiltinProvider`
below. A provider with a wire of its own is a record plus one module implementing
:class:`~byok.providers.base.Provider`, named in :data:`WIRE_IMPLEMENTATIONS`.

This module imports nothing from ``byok``: :mod:`byok.secret`, which every other module
depends on, reads the key shapes from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "BUILTIN_PROVIDER_IDS",
    "BUILTIN_RECORDS",
    "OPENROUTER_AUTO",
    "WIRE_IMPLEMENTATIONS",
    "BuiltinProvider",
    "ImageLimits",
    "ImageTokens",
    "KeyShape",
    "WireProtocol",
    "builtin_record",
]

WireProtocol = Literal["openai", "anthropic", "google", "openai-compatible"]

#: The class that speaks each wire, as ``module:Class``; imported on first use, since each
#: provider module pulls in an SDK that takes up to two seconds to import.
WIRE_IMPLEMENTATIONS: Mapping[WireProtocol, str] = MappingProxyType(
    {
        "openai": "byok.providers.openai:OpenAIProvider",
        "anthropic": "byok.providers.anthropic:AnthropicProvider",
        "google": "byok.providers.google:GoogleProvider",
        "openai-compatible": "byok.providers.openai_compatible:OpenAICompatibleProvider",
    }
)

#: OpenRouter's Auto Router: a model id that asks OpenRouter to pick the model.
OPENROUTER_AUTO = "openrouter/auto"


@dataclass(frozen=True, slots=True)
class KeyShape:
    """How a provider's API keys look, so keys pasted in chat are caught and logs masked.

    Patterns are regular expressions.
    """

    #: A whole key, as it may appear inside a line of text.
    pattern: str
    #: The vendor prefix alone: what is left after it is masked too, as it may be written
    #: on its own.
    prefix: str
    #: Literal prefixes only this provider issues; a key starting with one belongs to it.
    own_prefixes: tuple[str, ...] = ()
    #: Text inside every key of this provider whose prefix other providers share.
    marker: str | None = None


#: How a provider counts an image's input tokens (its documented formula; see
#: :func:`byok.images.image_tokens`): ``openai-tiles`` 512-px tiles after fitting 2048 px
#: and a 768-px short side, base + per tile; ``anthropic-area`` width x height / 750;
#: ``gemini-tiles`` 258 per 768-px tile, at least Gemini 3's 1120 for a high-resolution
#: image; ``xai-tiles`` 256 per 448-px tile plus one, at most 6 tiles.
ImageTokens = Literal["openai-tiles", "anthropic-area", "gemini-tiles", "xai-tiles"]


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What a provider takes as images in a request, from its vision documentation.

    :mod:`byok.images` fits every image to these before sending: a longer side or more
    pixels are scaled down, a format not in ``formats`` (or an animated GIF, whose first
    frame is sent) is re-encoded, and too many images or too many bytes are refused
    before anything is billed.
    """

    #: The longest side sent, in pixels (larger images are scaled down to it).
    max_side: int
    #: The most pixels sent (width x height); None: only ``max_side`` limits.
    max_pixels: int | None
    #: The most bytes of one image (decoded, before base64).
    max_image_bytes: int
    #: The most images in one request.
    max_images: int
    #: The most bytes of all images of one request together, base64 included (Gemini's
    #: inline data counts against its 20 MB request); None: no such limit.
    max_total_bytes: int | None
    #: The media types it takes; others are re-encoded as PNG.
    formats: tuple[str, ...]
    tokens: ImageTokens
    #: For ``openai-tiles``: (model id prefix, base tokens, tokens per tile), first match
    #: wins; other models: ``default_tile_cost``.
    tile_costs: tuple[tuple[str, int, int], ...] = ()
    default_tile_cost: tuple[int, int] = (85, 170)


_ALL_FORMATS = ("image/png", "image/jpeg", "image/gif", "image/webp")
_MB = 1024 * 1024

#: OpenAI (platform.openai.com/docs/guides/images-vision): PNG, JPEG, WebP, non-animated
#: GIF; up to 20 MB per image, 500 images a request; high detail fits 2048 x 2048, then a
#: 768-px short side, 512-px tiles. gpt-4o-mini bills 2833 + 5667 a tile, gpt-5 and
#: gpt-4.1 70 + 140, o-series 75 + 150, gpt-4o 85 + 170.
OPENAI_IMAGES = ImageLimits(
    max_side=2048,
    max_pixels=None,
    max_image_bytes=20 * _MB,
    max_images=500,
    max_total_bytes=None,
    formats=_ALL_FORMATS,
    tokens="openai-tiles",
    tile_costs=(
        ("gpt-4o-mini", 2833, 5667),
        ("gpt-5", 70, 140),
        ("o1", 75, 150),
        ("o3", 75, 150),
        ("o4", 75, 150),
    ),
)

#: Anthropic (docs.anthropic.com/en/docs/build-with-claude/vision): JPEG, PNG, GIF, WebP;
#: at most 8000 px a side and 5 MB an image, 100 images a request; images over 1568 px on
#: the long edge or about 1.15 megapixels are scaled down by the API anyway (slower, and
#: no better), so they are sent at that size; tokens ~ width x height / 750 (~1600 at most).
ANTHROPIC_IMAGES = ImageLimits(
    max_side=1568,
    max_pixels=1_150_000,
    max_image_bytes=5 * _MB,
    max_images=100,
    max_total_bytes=None,
    formats=_ALL_FORMATS,
    tokens="anthropic-area",
)

#: Gemini (ai.google.dev/gemini-api/docs/image-understanding): PNG, JPEG, WebP, HEIC,
#: HEIF (no GIF); inline data counts against the 20 MB request; 3600 images a request;
#: 258 tokens per 768 x 768 tile (Gemini 3: up to 1120 at high media resolution). Sent at
#: most 3072 px a side (4 x 4 tiles), which keeps inline requests well under 20 MB.
GEMINI_IMAGES = ImageLimits(
    max_side=3072,
    max_pixels=None,
    max_image_bytes=20 * _MB,
    max_images=3600,
    max_total_bytes=20 * _MB,
    formats=("image/png", "image/jpeg", "image/webp"),
    tokens="gemini-tiles",
)

#: xAI (docs.x.ai/docs/guides/image-understanding): JPEG and PNG only, up to 20 MiB an
#: image; 448-px tiles of 256 tokens plus one extra tile, at most 6 tiles (1792 tokens).
XAI_IMAGES = ImageLimits(
    max_side=2048,
    max_pixels=None,
    max_image_bytes=20 * _MB,
    max_images=100,
    max_total_bytes=None,
    formats=("image/png", "image/jpeg"),
    tokens="xai-tiles",
)

#: OpenRouter passes images to the model's own provider in the OpenAI form; the limits
#: and token counts kept are OpenAI's (the widest tile costs are the upper bound there).
OPENROUTER_IMAGES = ImageLimits(
    max_side=2048,
    max_pixels=None,
    max_image_bytes=20 * _MB,
    max_images=100,
    max_total_bytes=None,
    formats=_ALL_FORMATS,
    tokens="openai-tiles",
    tile_costs=(("openai/gpt-4o-mini", 2833, 5667),),
)

#: The limits kept for an operator-added OpenAI-compatible endpoint (a local model):
#: OpenAI's, the form such servers take.
DEFAULT_IMAGES = OPENAI_IMAGES


@dataclass(frozen=True, slots=True)
class BuiltinProvider:
    """One built-in provider: its ``[providers.<id>]`` defaults and what identifies it."""

    provider_id: str
    display_name: str
    wire: WireProtocol
    #: As the provider documents its base (the public contract of ``base_url``).
    base_url: str
    default_model: str
    #: The environment variable holding the operator's own key.
    operator_key_env: str
    keys: KeyShape
    #: The provider's id in the ``genai-prices`` tables; None: no prices.
    price_id: str | None
    #: A regular expression matching (at the start) model names only this provider uses,
    #: so ``--model`` alone picks it. The first record that matches wins.
    model_pattern: str | None
    #: The colour of this provider in charts.
    chart_color: str
    #: Other names users type for it.
    aliases: tuple[str, ...] = ()
    #: ``module:Class`` when it needs more than its wire's class (:data:`WIRE_IMPLEMENTATIONS`).
    implementation: str | None = None
    #: For a router that may answer with another model than the one asked (it says which in
    #: the answer): the model id that lets it pick.
    auto_router_model: str | None = None
    #: What it takes as images (:class:`ImageLimits`).
    images: ImageLimits = DEFAULT_IMAGES
    #: A regular expression matching (at the start) the models that can see images; None:
    #: none is known to (the provider's model list may still say so, see
    #: :mod:`byok.providers.models`).
    vision_models: str | None = None

    @property
    def implementation_path(self) -> str:
        """The ``module:Class`` that serves this provider on its own wire."""
        return self.implementation or WIRE_IMPLEMENTATIONS[self.wire]


_SK_BODY = r"[A-Za-z0-9_\-]{16,}"

BUILTIN_RECORDS: tuple[BuiltinProvider, ...] = (
    BuiltinProvider(
        provider_id="openai",
        display_name="OpenAI",
        wire="openai",
        base_url="https://api.openai.com/v1",
        default_model="gpt-5.6-terra",
        operator_key_env="OPENAI_API_KEY",
        keys=KeyShape(
            pattern=r"sk-(?:proj-|svcacct-|admin-)?" + _SK_BODY,
            prefix=r"sk-(?:proj-|svcacct-|admin-)?",
            own_prefixes=("sk-proj-", "sk-svcacct-", "sk-admin-"),
            # Every OpenAI secret key carries "T3BlbkFJ" (base64 of "OpenAI") in its middle,
            # including legacy ones that start with a bare "sk-".
            marker="T3BlbkFJ",
        ),
        price_id="openai",
        model_pattern=r"(gpt-(?!oss)|chatgpt-|o[1-9](-|$))",  # gpt-oss: open weights
        chart_color="#10a37f",
        aliases=("gpt", "chatgpt"),
        images=OPENAI_IMAGES,
        # gpt-4-turbo and the 4o, 4.1, 4.5 and 5 families; o1, o3 and o4 (not o1-mini,
        # o3-mini); chatgpt-4o. Not gpt-3.5, gpt-4 (0613), audio, realtime, image, search
        # or embedding models.
        vision_models=(
            r"(gpt-(4o|4\.1|4\.5|4-turbo|5)(?!.*-(audio|realtime|transcribe|tts|search))"
            r"|chatgpt-4o|o1(?!-mini)|o3(?!-mini)|o4)"
        ),
    ),
    BuiltinProvider(
        provider_id="anthropic",
        display_name="Anthropic",
        wire="anthropic",
        base_url="https://api.anthropic.com",
        default_model="claude-sonnet-4-6",
        operator_key_env="ANTHROPIC_API_KEY",
        keys=KeyShape(
            pattern=r"sk-ant-" + _SK_BODY,
            prefix=r"sk-ant-(?:api|admin)\d*-",
            own_prefixes=("sk-ant-",),
        ),
        price_id="anthropic",
        model_pattern=r"claude-",
        chart_color="#d97757",
        aliases=("claude",),
        images=ANTHROPIC_IMAGES,
        # Every Claude 3 and later model but 3.5 Haiku, which reads text only.
        vision_models=r"claude-(?!3-5-haiku)(3|[a-z]+-[4-9]|[4-9])",
    ),
    BuiltinProvider(
        provider_id="google",
        display_name="Google Gemini",
        wire="google",
        base_url="https://generativelanguage.googleapis.com",
        default_model="gemini-3.5-flash",
        operator_key_env="GOOGLE_API_KEY",
        keys=KeyShape(pattern=r"AIza[0-9A-Za-z_\-]{30,}", prefix="AIza", own_prefixes=("AIza",)),
        price_id="google",
        model_pattern=r"gemini-",
        chart_color="#4285f4",
        aliases=("gemini",),
        images=GEMINI_IMAGES,
        # Every Gemini model takes images but the embedding, TTS and image-output ones.
        vision_models=r"gemini-(?!.*(embedding|tts|-image))",
    ),
    BuiltinProvider(
        provider_id="xai",
        display_name="xAI Grok",
        wire="openai-compatible",
        base_url="https://api.x.ai/v1",
        default_model="grok-4.3",
        operator_key_env="XAI_API_KEY",
        keys=KeyShape(pattern=r"xai-" + _SK_BODY, prefix="xai-", own_prefixes=("xai-",)),
        price_id="x-ai",  # genai-prices' name for xAI
        model_pattern=r"grok-",
        chart_color="#444444",
        aliases=("grok", "x.ai", "x-ai"),
        implementation="byok.providers.xai:XAIProvider",
        images=XAI_IMAGES,
        # grok-*-vision and the Grok 4 family (which see images); not grok-3 or code models.
        vision_models=r"grok-(.*vision|4(?!.*code))",
    ),
    BuiltinProvider(
        provider_id="openrouter",
        display_name="OpenRouter",
        wire="openai-compatible",
        base_url="https://openrouter.ai/api/v1",
        default_model=OPENROUTER_AUTO,
        operator_key_env="OPENROUTER_API_KEY",
        keys=KeyShape(
            pattern=r"sk-or-(?:v1-)?" + _SK_BODY, prefix=r"sk-or-(?:v1-)?", own_prefixes=("sk-or-",)
        ),
        price_id="openrouter",
        # "vendor/model": any name of that shape, so it stays after the vendors' own.
        model_pattern=r"[a-z0-9][\w.-]*/[\w.:-]+$",
        chart_color="#7c4dff",
        aliases=("open-router",),
        implementation="byok.providers.openrouter:OpenRouterProvider",
        auto_router_model=OPENROUTER_AUTO,
        images=OPENROUTER_IMAGES,
        # OpenRouter's model list says which models take images (architecture
        # input_modalities); these are known without it. Its Auto Router picks one that can.
        vision_models=(
            r"(openrouter/auto$|openai/(gpt-(4o|4\.1|5)|o[134])|anthropic/claude-(?!3-5-haiku)"
            r"|google/gemini-|x-ai/grok-(.*vision|4))"
        ),
    ),
)

BUILTIN_PROVIDER_IDS: tuple[str, ...] = tuple(p.provider_id for p in BUILTIN_RECORDS)

_BY_ID: Mapping[str, BuiltinProvider] = MappingProxyType(
    {p.provider_id: p for p in BUILTIN_RECORDS}
)


def builtin_record(provider_id: str) -> BuiltinProvider | None:
    """The record of a built-in provider; None for an operator-added one."""
    return _BY_ID.get(provider_id)
