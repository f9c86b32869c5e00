"""Shared fixtures: databases (SQLite and a real throwaway PostgreSQL), keyrings, canaries.

Also the tiers: tests that start processes, soak or take seconds are marked ``slow``,
those that need the PostgreSQL server ``postgres``, and ``--quick`` (the same as
``-m "not slow and not postgres"``) runs the rest: the quick tier (docs/testing.md). A
test that starts a process unmarked fails (tests/processes.py).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest

from byok.db import Database
from byok.vault import Keyring, MasterKey
from tests.databases import migrated_sqlite_url, sqlite_url
from tests.loopback_trust import trust_only_a_throwaway_ca
from tests.postgres_server import PostgresServer, find_pg_bin
from tests.processes import guard_processes, infrastructure, permitted

pytest_plugins = ["tests.fakes.plugin"]

#: Every test under these folders runs the bot as a process, or soaks.
SLOW_FOLDERS = ("ops", "soak")
#: Fixtures that run the bot as a process: any test using one is slow, wherever it lives.
SLOW_FIXTURES = {"deployment", "own_postgres"}
_TESTS = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="the quick tier: leave out the tests marked slow or postgres (docs/testing.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    guard_processes()
    trust_only_a_throwaway_ca()


def _is_slow_by_place(item: pytest.Item) -> bool:
    parts = item.path.relative_to(_TESTS).parts if item.path.is_relative_to(_TESTS) else ()
    fixtures = set(getattr(item, "fixturenames", ()))
    return (bool(parts) and parts[0] in SLOW_FOLDERS) or bool(fixtures & SLOW_FIXTURES)


def _needs_postgres(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    on_postgres = "postgresql" in (params.get("db_url"), params.get("empty_db_url"))
    return on_postgres or "postgres_server" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_postgres(item):
            item.add_marker(pytest.mark.postgres)
        if _is_slow_by_place(item):
            item.add_marker(pytest.mark.slow)
    if config.getoption("quick"):
        left_out = [item for item in items if not _is_quick(item)]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if _is_quick(item)]


def _is_quick(item: pytest.Item) -> bool:
    return not any(item.get_closest_marker(name) for name in ("slow", "postgres"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    with permitted(item.get_closest_marker("slow") is not None):
        return (yield)


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
    with infrastructure():  # the session's, started by whichever test needs it first
        server.start()
    yield server
    with infrastructure():
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
