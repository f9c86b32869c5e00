"""Faults at a rate, drawn per (ask, provider) from a seed, so a soak failure reproduces.

The draw depends only on the seed, the ask's number (written into its question as
``[ask N]``) and the provider, never on scheduling: the same run meets the same faults.
Every fault injected is recorded, in the order the requests arrived, so a test can say
what each ask should have become.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Literal

from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import Fault, FaultPolicy, RecordedRequest

__all__ = ["ASK_ID", "FALLBACK_KINDS", "FaultKind", "FaultMix", "FaultPlan", "Injected"]

FaultKind = Literal["none", "http_500", "timeout", "rate_limited", "cut"]
#: Faults a fallback provider may answer instead of (a cut stream already showed text).
FALLBACK_KINDS: frozenset[FaultKind] = frozenset({"http_500", "timeout", "rate_limited"})
ASK_ID = re.compile(rb"\[ask (\d+)\]")


@dataclass(frozen=True, slots=True)
class FaultMix:
    """The share of generation requests meeting each fault."""

    http_500: float = 0.10
    timeout: float = 0.05
    rate_limited: float = 0.05
    cut: float = 0.02


@dataclass(frozen=True, slots=True)
class Injected:
    order: int
    ask: int
    provider_id: str
    kind: FaultKind


@dataclass
class FaultPlan:
    seed: int
    mix: FaultMix = field(default_factory=FaultMix)
    injected: list[Injected] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def draw(self, ask: int, provider_id: str) -> FaultKind:
        roll = random.Random(f"{self.seed}:{ask}:{provider_id}").random()
        for kind, share in (
            ("http_500", self.mix.http_500),
            ("timeout", self.mix.timeout),
            ("rate_limited", self.mix.rate_limited),
            ("cut", self.mix.cut),
        ):
            if roll < share:
                return kind  # type: ignore[return-value]
            roll -= share
        return "none"

    def policy(self, fake: FakeLLM) -> FaultPolicy:
        """The fault policy of one fake: only generation requests (POSTs naming an ask)."""

        def choose(request: RecordedRequest) -> Fault | None:
            found = ASK_ID.search(request.body) if request.method == "POST" else None
            if found is None:
                return None
            ask = int(found.group(1))
            kind = self.draw(ask, fake.provider_id)
            self.injected.append(Injected(next(self._order), ask, fake.provider_id, kind))
            if kind == "http_500":
                return Fault.http(500)
            if kind == "timeout":
                return Fault.stall()
            if kind == "rate_limited":
                return Fault.rate_limited(retry_after="1")
            if kind == "cut":
                return Fault.cut(after=fake.events_before_text + 2)  # two words shown
            return None

        return choose

    def attempts(self) -> dict[int, list[Injected]]:
        """Each ask's attempts as the providers saw them, in order."""
        by_ask: dict[int, list[Injected]] = {}
        for injected in sorted(self.injected, key=lambda i: i.order):
            by_ask.setdefault(injected.ask, []).append(injected)
        return by_ask
