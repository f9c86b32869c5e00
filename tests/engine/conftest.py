"""An Engine wired to the fake providers over loopback, on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from byok.catalog import Catalog, ProviderEntry
from byok.db import Database
from byok.engine import Engine, EngineSettings
from byok.providers.registry import PROVIDER_ALIASES, build_provider
from byok.secret import Secret
from byok.service import BYOKService
from byok.types import UserRef
from byok.vault import Keyring
from tests.databases import migrated_sqlite_url
from tests.fakes.plugin import FakeProviders

ALICE = UserRef("slack", "T111", "U111")
BOB = UserRef("discord", "G222", "U222")


@dataclass
class Clock:
    """A controllable UTC clock."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 18, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    engine: Engine
    fakes: FakeProviders
    clock: Clock

    def service(self, user: UserRef = ALICE) -> BYOKService:
        return BYOKService(self.engine, user)

    async def add_key(
        self, provider: str, user: UserRef = ALICE, limit: str | None = None, **fields: Any
    ) -> str:
        key = self.fakes.key(provider)
        await self.service(user).add_key(
            provider, key, monthly_limit=Decimal(limit) if limit else None, **fields
        )
        return key

    async def usage_rows(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        await self.engine.ledger.flush()
        from byok.db.tables import UsageEvent

        async with self.engine.database.session() as session:
            rows = await session.scalars(select(UsageEvent).order_by(UsageEvent.id))
            return [
                {c.name: getattr(r, c.name) for c in UsageEvent.__table__.columns} for r in rows
            ]


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(
    fake_providers: FakeProviders, keyring: Keyring, tmp_path: Any
) -> AsyncIterator[MakeRig]:
    engines: list[Engine] = []

    async def make(
        database: Database | None = None,
        *,
        operator: dict[str, dict[str, Any]] | None = None,
        settings: EngineSettings | None = None,
        display_names: dict[str, str] | None = None,
        **provider_overrides: Any,
    ) -> Rig:
        if database is None:
            database = Database(migrated_sqlite_url(tmp_path / f"engine-{len(engines)}.db"))
        entries = {}
        for provider_id in fake_providers:
            options = (operator or {}).get(provider_id, {})
            op_key = options.get("key")
            entries[provider_id] = ProviderEntry(
                provider=build_provider(fake_providers.settings(provider_id, **provider_overrides)),
                # Named by id unless a test names them: replies read as before.
                display_name=(display_names or {}).get(provider_id, provider_id),
                operator_key=Secret(op_key) if op_key else None,
                allow_operator_key=bool(op_key),
                operator_monthly_cap=Decimal(options.get("cap", "5")),
            )
        clock = Clock()
        engine = Engine(
            database,
            keyring,
            Catalog(entries, PROVIDER_ALIASES),
            settings or EngineSettings(requests_per_minute=10_000),
            clock=clock,
        )
        engines.append(engine)
        return Rig(engine, fake_providers, clock)

    yield make
    for engine in engines:
        await engine.aclose()


@pytest.fixture
async def rig(make_rig: MakeRig) -> Rig:
    return await make_rig()


@pytest.fixture
async def rig_any_db(make_rig: MakeRig, database: Database) -> Rig:
    """The same rig on SQLite and on a real PostgreSQL."""
    return await make_rig(database)
