"""Plain values that cross the engine's boundaries: messages, requests, usage, chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

__all__ = [
    "NOT_REPORTED",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "Chunk",
    "ImageInput",
    "KeyInfo",
    "ModelInfo",
    "ModelRef",
    "Role",
    "Usage",
    "UserRef",
]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class UserRef:
    """Who a request is for. A Slack user id is only unique inside its workspace."""

    platform: str
    workspace: str
    user: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.user}"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A provider and one of its models, parsed once from ``provider/model`` text."""

    provider_id: str
    model_id: str

    def __str__(self) -> str:
        return f"{self.provider_id}/{self.model_id}"


@dataclass(frozen=True, slots=True)
class ImageInput:
    """One image sent with a message, already checked and fitted to the provider's limits
    (:mod:`byok.images`): its real media type (read from the bytes, never a file name),
    the bytes themselves and their pixel size. ``name`` is what the user called the file,
    for replies and history placeholders only; it never reaches a provider.

    Its repr leaves the bytes out: an image is user content, not something for a log.
    """

    media_type: str
    data: bytes = field(repr=False)
    width: int
    height: int
    name: str = ""

    @property
    def placeholder(self) -> str:
        """What stands for the image where bytes are not kept (conversation history)."""
        label = self.name or self.media_type
        return f"[image: {label} {self.width}\u00d7{self.height}]"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message. ``cache_prefix`` is a hint that the conversation up to and including
    this message will be sent again soon (instructions shared by the parts of a long
    summary): worth a provider-side prompt cache where caching must be asked for.
    Anthropic marks such a system prompt with ``cache_control`` when it is long enough to
    be cached; providers that cache by themselves (OpenAI, Gemini, xAI) ignore the hint.
    It never changes the answer, so it is no part of a response-cache key.

    ``images`` go with the text, never inside it: each provider renders them in its own
    form (OpenAI ``image_url`` data URLs, Anthropic base64 image blocks, Gemini inline
    data). Only user messages carry images.
    """

    role: Role
    content: str
    cache_prefix: bool = False
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a provider is asked. ``model`` is the provider's own model id."""

    model: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts exactly as the provider reported them.

    ``input_tokens`` includes cached input; ``cached_input_tokens`` and
    ``cache_write_tokens`` are the parts of it read from or written to a cache.
    ``output_tokens`` includes ``reasoning_tokens``. ``reported_cost`` is a cost
    the provider itself stated (OpenRouter), in USD. ``reported`` is False when the
    provider sent no usage at all (some OpenAI-compatible servers): the counts are then
    unknown rather than zero, and so is the cost. ``implausible`` names the figure that
    made a report unbelievable (see :mod:`byok.plausible`); such a report is not
    ``reported`` either.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    reported_cost: Decimal | None = None
    reported: bool = True
    implausible: str | None = None


NOT_REPORTED = Usage(reported=False)


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished answer. ``model`` is the model that actually served it."""

    provider_id: str
    model: str
    text: str
    usage: Usage
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a streamed answer.

    Text chunks carry ``text``. The last chunk of a successful stream carries
    ``usage`` (and the serving ``model``); a stream that ends without it failed.
    """

    text: str = ""
    usage: Usage | None = None
    model: str | None = None
    finish_reason: str | None = None

    @property
    def is_final(self) -> bool:
        return self.usage is not None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str | None = None
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a successful key check learned. Credit figures are in USD when known."""

    provider_id: str
    label: str | None = None
    credit_limit: Decimal | None = None
    credit_remaining: Decimal | None = None
    models: tuple[str, ...] = field(default=())
