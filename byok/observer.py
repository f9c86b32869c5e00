"""Hooks through which the engine reports what happened, for metrics and logs.

The engine calls an :class:`EngineObserver` after every attempt and every refusal, and
for every question answered from the response cache (outcome ``cached``: no provider was
called, nothing was spent, ``saved`` is what the answer cost when first asked, None when
unknown); ``bot/`` turns these into Prometheus metrics. The default observer does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

__all__ = ["AttemptRecord", "EngineObserver", "NullObserver"]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    provider_id: str
    model: str
    outcome: str  # success, error, cancelled; cached: answered from the response cache
    error_kind: str | None
    request_kind: str
    is_fallback: bool
    key_source: str
    latency_s: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = None
    saved: Decimal | None = None  # a cached answer's saving (None: unknown, or not cached)


class EngineObserver(Protocol):
    def attempt_finished(self, record: AttemptRecord) -> None: ...

    def request_refused(self, provider_id: str, reason: str) -> None:
        """A request stopped before any provider call (spend limit, rate limit, no price)."""
        ...


class NullObserver:
    def attempt_finished(self, record: AttemptRecord) -> None:
        return None

    def request_refused(self, provider_id: str, reason: str) -> None:
        return None
