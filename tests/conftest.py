"""Shared fixtures: databases (SQLite and a real throwaway PostgreSQL), keyrings, canaries."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from byok.db import Database, upgrade
from byok.vault import Keyring, MasterKey
from tests.postgres_server import PostgresServer, find_pg_bin

pytest_plugins = ["tests.fakes.plugin"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "postgresql":
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
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/byok.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database: SQLite in tmp_path, then real PostgreSQL."""
    db = Database(db_url)
    await upgrade(db)
    yield db
    await db.dispose()


@pytest.fixture
async def sqlite_database(tmp_path: os.PathLike[str]) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/byok.db")
    await upgrade(db)
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
