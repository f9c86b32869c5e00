"""Seeded usage, a recording Messenger (the platform boundary) and settings for digest tests.

Usage is written with plain SQL inserts of ``usage_events`` rows; keys and preferences
go through the real KeyStore and PreferenceStore. Every seeded row is also kept as a
:class:`Use`, so a test can compute what the digest must say on its own, in Python.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from bot.config import DigestSettings
from bot.reply import Reply
from byok.db import Database
from byok.db.tables import UsageEvent
from byok.keystore import KeyStore
from byok.preferences import PreferenceStore
from byok.secret import Secret
from byok.types import UserRef
from byok.users import user_id_or_create
from byok.vault import Keyring
from tests.engine.conftest import Clock, make_rig, rig  # noqa: F401 - fixtures

__all__ = [
    "ALICE", "BERLIN", "BOB", "CAROL", "CHART_WEEKS", "DAVE", "ERIN", "PERIOD", "SEND_AT",
    "Clock", "GatedMessenger", "RecordingMessenger", "Seeder", "Use", "berlin", "d", "messengers",
    "seed_standard", "settings",
]  # fmt: skip

BERLIN = ZoneInfo("Europe/Berlin")
PERIOD = date(2026, 11, 16)  # Monday; the week is Mon 16 – Sun 22 Nov 2026 in Berlin
SEND_AT = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)  # the scheduled send after that week
CHART_WEEKS = 5  # from Mon 19 Oct: the chart spans the end of summer time (25 Oct)

ALICE = UserRef("slack", "T1", "U1")
BOB = UserRef("discord", "G2", "U2")
CAROL = UserRef("slack", "T1", "U3")  # used only the week before: no digest
DAVE = UserRef("slack", "T1", "U4")  # never used it, asked for empty digests
ERIN = UserRef("slack", "T1", "U5")  # used it, turned the digest off


def berlin(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def settings(**overrides: Any) -> DigestSettings:
    values: dict[str, Any] = {
        "day": "mon", "time": "09:00", "timezone": "Europe/Berlin",
        "grace_hours": 24.0, "chart_weeks": CHART_WEEKS,
    }  # fmt: skip
    values.update(overrides)
    return DigestSettings(**values)


@dataclass(frozen=True)
class Use:
    """One seeded attempt, as the test knows it."""

    user: UserRef
    provider: str
    model: str
    at: datetime
    cost: Decimal | None = None
    outcome: str = "success"
    error_kind: str | None = None
    fallback: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    reserved: Decimal | None = None
    key_source: str = "user"


@dataclass
class Seeder:
    database: Database
    keyring: Keyring
    uses: list[Use] = field(default_factory=list)
    ids: dict[UserRef, int] = field(default_factory=dict)

    async def user(self, ref: UserRef, **prefs: bool) -> int:
        async with self.database.session() as session:
            self.ids[ref] = await user_id_or_create(session, ref, datetime(2026, 1, 1, tzinfo=UTC))
        if prefs:
            await PreferenceStore(self.database).update(ref, **prefs)
        return self.ids[ref]

    async def key(self, ref: UserRef, provider: str, limit: str | None = None) -> None:
        await KeyStore(self.database, self.keyring).put(
            ref, provider, Secret(f"sk-test-{provider}-0123456789abcdef"),
            monthly_limit=Decimal(limit) if limit is not None else None,
        )  # fmt: skip

    async def usage(self, *uses: Use) -> None:
        rows = []
        for n, use in enumerate(uses, start=len(self.uses)):
            if use.user not in self.ids:
                await self.user(use.user)
            rows.append({
                "user_ref": self.ids[use.user], "request_id": f"req{n}", "provider": use.provider,
                "model": use.model, "key_source": use.key_source, "request_kind": "chat",
                "is_fallback": use.fallback, "outcome": use.outcome, "error_kind": use.error_kind,
                "input_tokens": use.tokens_in, "output_tokens": use.tokens_out, "cost": use.cost,
                "reserved_cost": use.reserved, "created_at": use.at,
                "finished_at": None if use.outcome == "pending" else use.at,
            })  # fmt: skip
        async with self.database.session() as session:
            await session.execute(insert(UsageEvent), rows)
        self.uses.extend(uses)


@dataclass
class RecordingMessenger:
    """A Messenger test double: records every DM; ``failures`` scripts errors per user
    (DeliveryError as a platform would raise it, anything else as an adapter bug)."""

    platform: str
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)
    failures: dict[UserRef, list[Exception]] = field(default_factory=dict)
    on_send: Callable[[UserRef], None] | None = None

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        pending = self.failures.get(user)
        if pending:
            raise pending.pop(0)
        self.sent.append((user, reply))
        if self.on_send is not None:
            self.on_send(user)

    def to(self, user: UserRef) -> list[Reply]:
        return [reply for who, reply in self.sent if who == user]


class GatedMessenger(RecordingMessenger):
    """Holds every DM until the test opens the gate."""

    def __init__(self, platform: str) -> None:
        super().__init__(platform)
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        self.waiting.set()
        await self.gate.wait()
        await super().send_dm(user, reply)


def messengers() -> tuple[RecordingMessenger, RecordingMessenger]:
    return RecordingMessenger("slack"), RecordingMessenger("discord")


def d(text: str) -> Decimal:
    return Decimal(text)


async def seed_standard(seed: Seeder) -> None:
    """Five users over six weeks: several providers and models, unknown prices, failures,
    fallbacks, a pending reservation, operator-key use, a week before, DST, edges."""
    a, b = ALICE, BOB
    await seed.user(ALICE)
    await seed.user(DAVE, digest_when_empty=True)
    await seed.user(ERIN, weekly_digest=False)
    await seed.key(ALICE, "openai", "0.50")
    await seed.key(ALICE, "anthropic", None)
    await seed.key(ALICE, "google", "10")
    await seed.key(DAVE, "openai", "5")
    await seed.usage(
        # The week, Alice.
        Use(a, "openai", "gpt-5", berlin(16, 10), d("0.012345678"), tokens_in=1200, tokens_out=300),
        Use(a, "openai", "gpt-5", berlin(18, 11), d("0.1"), tokens_in=5000, tokens_out=2000),
        Use(a, "openai", "gpt-5", berlin(22, 23, 59).replace(second=59), d("0.2"), tokens_in=9000, tokens_out=100),
        Use(a, "openai", "gpt-5", berlin(17, 9), outcome="error", error_kind="rate_limited", tokens_in=10),
        Use(a, "openai", "gpt-5", berlin(17, 9, 1), outcome="error", error_kind="rate_limited"),
        Use(a, "openai", "gpt-5-mini", berlin(19, 15), tokens_in=700, tokens_out=70),
        Use(a, "openai", "gpt-5-mini", berlin(20, 15), tokens_in=300, tokens_out=30),
        Use(a, "openai", "gpt-5", berlin(21, 8), d("0.05"), tokens_in=100, tokens_out=10, key_source="operator"),
        Use(a, "anthropic", "claude-sonnet-4-6", berlin(16, 10, 1), d("0.03"), fallback=True, tokens_in=800, tokens_out=120),
        Use(a, "anthropic", "claude-sonnet-4-6", berlin(20, 18), d("0.07"), tokens_in=2000, tokens_out=400),
        Use(a, "anthropic", "claude-sonnet-4-6", berlin(21, 18), outcome="cancelled", reserved=d("0.04")),
        Use(a, "google", "gemini-2.5-pro", berlin(19, 7), outcome="error"),
        Use(a, "google", "gemini-2.5-pro", berlin(22, 7), outcome="pending", reserved=d("0.25")),
        # Edges: Monday 00:00 Berlin is the next week; Sunday 23:59 the week before.
        Use(a, "openai", "gpt-5", berlin(23, 0, 0), d("9")),
        Use(a, "openai", "gpt-5", berlin(15, 23, 59), d("0.08"), tokens_in=400, tokens_out=40),
        # The week before.
        Use(a, "openai", "gpt-5", berlin(10), d("0.11"), tokens_in=3000, tokens_out=500),
        Use(a, "anthropic", "claude-haiku-4-5", berlin(12), tokens_in=50, tokens_out=5),
        # Earlier this month (month-to-date and chart only).
        Use(a, "openai", "gpt-5", berlin(3), d("0.09"), tokens_in=900, tokens_out=90),
        Use(a, "google", "gemini-2.5-flash", berlin(4), d("0.6")),
        # October, around the end of summer time (25 Oct 03:00 CEST -> 02:00 CET).
        Use(a, "openai", "gpt-5", berlin(24, 23, 30, month=10), d("0.01")),
        Use(a, "openai", "gpt-5", berlin(25, 0, 30, month=10), d("0.02")),
        Use(a, "openai", "gpt-5", berlin(25, 23, 30, month=10), d("0.04")),
        Use(a, "anthropic", "claude-sonnet-4-6", berlin(19, 0, 5, month=10), d("0.5")),
        Use(a, "anthropic", "claude-sonnet-4-6", berlin(18, 23, 55, month=10), d("7")),  # before the chart
        # Bob, on Discord: one provider, one model, no keys.
        Use(b, "xai", "grok-4", berlin(17, 20), d("0.015"), tokens_in=150, tokens_out=60),
        Use(b, "xai", "grok-4", berlin(18, 20), d("0.025"), tokens_in=250, tokens_out=90),
        # Carol only the week before; Erin this week but opted out.
        Use(CAROL, "openai", "gpt-5", berlin(11), d("0.3")),
        Use(ERIN, "openai", "gpt-5", berlin(17), d("0.4")),
    )  # fmt: skip


@pytest.fixture
async def seeder(database: Database, keyring: Keyring) -> Seeder:
    seed = Seeder(database, keyring)
    await seed_standard(seed)
    return seed


@pytest.fixture
async def sqlite_seeder(sqlite_database: Database, keyring: Keyring) -> Seeder:
    """The same seed on SQLite only, for tests about what is built from the numbers."""
    seed = Seeder(sqlite_database, keyring)
    await seed_standard(seed)
    return seed


@pytest.fixture
def clock() -> Clock:
    return Clock(SEND_AT.astimezone(UTC) + timedelta(minutes=5))
