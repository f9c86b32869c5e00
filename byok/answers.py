"""What the engine hands back: a finished answer, and the events of a streamed one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from byok.alerts import QuotaNotice
from byok.errors import Attempt, ByokError
from byok.types import Usage
from byok.usage import KeySource

__all__ = [
    "Answer",
    "CompareEvent",
    "CompareFailure",
    "Comparing",
    "FallingBack",
    "FromCache",
    "StreamEvent",
    "TextDelta",
]


@dataclass(frozen=True, slots=True)
class FromCache:
    """The answer came from the user's response cache: no provider was called."""

    asked_at: datetime  # when the answer was first given
    saved: Decimal | None  # what it cost then, saved now; None: unknown
    age_s: float = 0.0  # how long ago it was first given, when served


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete answer, who gave it, what it cost, and what happened on the way."""

    text: str
    provider_id: str
    model: str
    usage: Usage
    cost: Decimal | None  # None: the price of this model is unknown
    latency_ms: int
    request_id: str
    key_source: KeySource
    failed_attempts: tuple[Attempt, ...] = ()
    notes: tuple[str, ...] = ()
    notices: tuple[QuotaNotice, ...] = ()
    finish_reason: str | None = None
    #: Set when the answer came from the response cache (then ``cost`` is 0).
    from_cache: FromCache | None = None
    #: What reading the provider's prompt cache saved (``usage.cached_input_tokens`` at
    #: full input price less their cache price): 0 when nothing was read, None when the
    #: price list cannot tell (:func:`byok.pricing.cache_saving`).
    cache_saved: Decimal | None = Decimal(0)

    @property
    def truncated(self) -> bool:
        """The model stopped because it reached the token limit, not because it was done."""
        return (self.finish_reason or "").lower() in ("length", "max_tokens")

    @property
    def fell_back(self) -> bool:
        return bool(self.failed_attempts)

    @property
    def fallback_reason(self) -> str | None:
        if not self.failed_attempts:
            return None
        return "; ".join(
            f"{a.provider_id} failed: {a.error.explanation}" for a in self.failed_attempts
        )


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of streamed text from ``provider_id``."""

    text: str
    provider_id: str
    model: str


@dataclass(frozen=True, slots=True)
class FallingBack:
    """The previous provider failed before sending anything; the next is being tried."""

    failed: Attempt
    next_provider_id: str
    next_model: str


StreamEvent = TextDelta | FallingBack | Answer


@dataclass(frozen=True, slots=True)
class Comparing:
    """A comparison begins: the providers asked, in the order their answers are shown."""

    provider_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompareFailure:
    """One provider of a comparison failed (its usage row is finished); the others go on.

    ``partial_text`` is what it had streamed before it was cut off, if anything."""

    provider_id: str
    error: ByokError
    partial_text: str = ""


CompareEvent = Comparing | TextDelta | Answer | CompareFailure
"""What :meth:`byok.service.BYOKService.compare` yields: ``Comparing`` first, then every
provider's text deltas interleaved as they come, each provider ending with its
``Answer`` or its ``CompareFailure``."""
