"""PostgreSQL connections are checked before use only when they sat idle: a restarted
server costs no failed transaction to a connection idle for a moment, and at most one,
reported as the database being unavailable, to one in use just before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

import byok.db.database
from byok.db import Database
from byok.errors import DatabaseUnavailableError
from tests.postgres_server import PostgresServer, find_pg_bin

pytestmark = pytest.mark.slow  # each test starts a PostgreSQL server of its own


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    bindir = find_pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found")
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _select_one(database: Database) -> int:
    async with database.transaction() as connection:
        return int((await connection.execute(text("SELECT 1"))).scalar_one())


async def test_an_idle_connection_is_checked_and_replaced_after_a_restart(
    server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(server.create_database())
    try:
        assert await _select_one(database) == 1
        server.restart()
        monkeypatch.setattr(byok.db.database, "PING_IDLE_AFTER_S", 0.0)  # idle long enough
        assert await _select_one(database) == 1
    finally:
        await database.dispose()


async def test_a_connection_in_use_a_moment_ago_fails_once_then_the_pool_reconnects(
    server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(server.create_database())
    try:
        assert await _select_one(database) == 1
        server.restart()
        monkeypatch.setattr(byok.db.database, "PING_IDLE_AFTER_S", 3600.0)  # never pinged
        with pytest.raises(DatabaseUnavailableError):
            await _select_one(database)
        assert await _select_one(database) == 1
    finally:
        await database.dispose()
