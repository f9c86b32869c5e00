"""Shared fixtures: databases (SQLite and a real throwaway PostgreSQL), keyrings, canaries."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from byok.db import Database
from byok.vault import Keyring, MasterKey
from tests.databases import migrated_sqlite_url, sqlite_url
from tests.loopback_trust import trust_only_a_throwaway_ca
from tests.postgres_server import PostgresServer, find_pg_bin

pytest_plugins = ["tests.fakes.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    trust_only_a_throwaway_ca()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in (
            callspec.params.get("db_url"),
            callspec.params.get("empty_db_url"),
        ):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_pg_bin()
    if bindir is None:
        message = (
            "PostgreSQL binaries not found; install Debian's `postgresql` package "
            "(scripts/test does this when run as root)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bindir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of this test's own (a copy of the session's template):
    SQLite in tmp_path, then real PostgreSQL."""
    if request.param == "sqlite":
        return migrated_sqlite_url(tmp_path / "byok.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_migrated_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, for tests that run the migrations themselves."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "byok.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database: SQLite in tmp_path, then real PostgreSQL."""
    db = Database(db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(migrated_sqlite_url(tmp_path / "byok.db"))
    yield db
    await db.dispose()


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey.from_bytes(bytes(range(32)))


@pytest.fixture
def keyring(master_key: MasterKey) -> Keyring:
    return Keyring(master_key)


@pytest.fixture
def canary_key() -> str:
    """A fresh key-shaped secret per test; it must never surface anywhere."""
    return "sk-canary-" + secrets.token_hex(20)
