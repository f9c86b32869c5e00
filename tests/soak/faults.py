"""Faults at a rate, drawn per (ask, provider) from a seed, so a soak failure reproduces.

The draw depends only on the seed, the ask's number (written into its question as
``[ask N]``) and the provider, never on scheduling: the same run meets the same faults.
Every fault injected is recorded, in the order the requests arrived, so a test can say
what each ask should have become.

Besides broken transports (HTTP 500, a stall, 429, a cut stream) a plan draws broken
answers, which the fakes send through their reply policy: garbage usage (NaN, text, a
negative or an absurd token count), and a served model name longer than the usage
table's column, which PostgreSQL refuses in the middle of other users' rows.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Literal

from byok.db.tables import UsageEvent
from tests.fakes.llm_script import FakeLLM, Reply, ReplyPolicy
from tests.fakes.loopback import Fault, FaultPolicy, RecordedRequest

__all__ = [
    "ANSWERING_KINDS",
    "ASK_ID",
    "FALLBACK_KINDS",
    "OVERLONG_MODEL",
    "FaultKind",
    "FaultMix",
    "FaultPlan",
    "Injected",
]

FaultKind = Literal["none", "http_500", "timeout", "rate_limited", "cut", "garbage", "bad_row"]
#: Faults a fallback provider may answer instead of (a cut stream already showed text).
FALLBACK_KINDS: frozenset[FaultKind] = frozenset({"http_500", "timeout", "rate_limited"})
#: Attempts whose whole answer reaches the user, whatever their usage row then says.
ANSWERING_KINDS: frozenset[FaultKind] = frozenset({"none", "garbage", "bad_row"})
ASK_ID = re.compile(rb"\[ask (\d+)\]")
#: A served model name the usage table cannot hold (VARCHAR(128)): PostgreSQL refuses
#: the row, SQLite stores it as it is.
OVERLONG_MODEL = "soak-served-" + "x" * (int(UsageEvent.__table__.c.model.type.length) + 20)
#: Garbage usage figures, each sent in place of a token count (as test_implausible_usage).
GARBAGE_COUNTS: tuple[object, ...] = (float("nan"), "lots", -5, 2**40)
#: google-genai validates its answers: a count that is not an integer fails the call
#: (tests/bot/test_implausible_usage.py covers that); the soak wants the answer delivered.
GARBAGE_INTEGERS: tuple[object, ...] = (-5, 2**40)


@dataclass(frozen=True, slots=True)
class FaultMix:
    """The share of generation requests meeting each fault."""

    http_500: float = 0.10
    timeout: float = 0.05
    rate_limited: float = 0.05
    cut: float = 0.02
    garbage: float = 0.03
    bad_row: float = 0.02


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
            ("garbage", self.mix.garbage),
            ("bad_row", self.mix.bad_row),
        ):
            if roll < share:
                return kind  # type: ignore[return-value]
            roll -= share
        return "none"

    def policy(self, fake: FakeLLM) -> FaultPolicy:
        """The fault policy of one fake: only generation requests (POSTs naming an ask)."""

        def choose(request: RecordedRequest) -> Fault | None:
            ask = _ask_of(request)
            if ask is None:
                return None
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

    def replies(self, fake: FakeLLM) -> ReplyPolicy:
        """The reply policy of one fake: the broken answers this plan draws."""

        def choose(request: RecordedRequest) -> Reply | None:
            ask = _ask_of(request)
            if ask is None:
                return None
            kind = self.draw(ask, fake.provider_id)
            if kind == "garbage":
                return Reply(wire_usage=self.garbage(ask, fake.provider_id))
            if kind == "bad_row":
                return Reply(model=OVERLONG_MODEL)
            return None

        return choose

    def garbage(self, ask: int, provider_id: str) -> dict[str, object]:
        """The garbage figure one attempt reports, drawn like its fault."""
        draw = random.Random(f"{self.seed}:{ask}:{provider_id}:usage")
        figure = draw.choice(("input_tokens", "output_tokens"))
        values = GARBAGE_INTEGERS if provider_id == "google" else GARBAGE_COUNTS
        return {figure: draw.choice(values)}

    def attempts(self) -> dict[int, list[Injected]]:
        """Each ask's attempts as the providers saw them, in order."""
        by_ask: dict[int, list[Injected]] = {}
        for injected in sorted(self.injected, key=lambda i: i.order):
            by_ask.setdefault(injected.ask, []).append(injected)
        return by_ask


def _ask_of(request: RecordedRequest) -> int | None:
    found = ASK_ID.search(request.body) if request.method == "POST" else None
    return None if found is None else int(found.group(1))
