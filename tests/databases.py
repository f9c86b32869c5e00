"""Migrated test databases, each a copy of one template migrated once per session.

Running the migrations costs Alembic a large fraction of a second per database; copying
a migrated SQLite file, or ``CREATE DATABASE … TEMPLATE`` on PostgreSQL
(:meth:`tests.postgres_server.PostgresServer.create_migrated_database`), costs
milliseconds. A copy holds exactly what a fresh ``upgrade`` leaves, and every test still
gets a database of its own, so isolation is what it was.

The migrations themselves are still run for real where they are under test
(tests/test_migrations.py and the ``empty_db_url`` fixture, tests/test_database_file_mode.py,
``byok-bot db upgrade`` in tests/test_cli.py and the process tests).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from byok.db import Database, upgrade

__all__ = ["migrate", "migrated_sqlite_url", "run_blocking", "sqlite_url"]

T = TypeVar("T")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end on an event loop of its own, in another thread.

    For sync fixtures and helpers: the test's own loop is neither replaced nor re-entered.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="byok-test-db") as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to head, then close every connection to it."""
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


_template_lock = threading.Lock()
_template: list[Path] = []


def _sqlite_template() -> Path:
    """The session's migrated SQLite file (made on first use, removed at exit)."""
    with _template_lock:
        if not _template:
            folder = Path(tempfile.mkdtemp(prefix="byok-sqlite-template-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            path = folder / "template.db"
            run_blocking(migrate(sqlite_url(path)))
            # Closing the last connection checkpoints the WAL into the file and removes
            # it: the file alone is the whole database.
            leftovers = [p.name for p in folder.iterdir() if p != path]
            assert not leftovers, f"the SQLite template is not closed: {leftovers}"
            _template.append(path)
        return _template[0]


def migrated_sqlite_url(path: Path) -> str:
    """A migrated SQLite database at ``path`` (a copy of the template); returns its URL.

    Created owner-only (0600), as :class:`byok.db.Database` creates a new file; ``path``
    must not exist yet.
    """
    template = _sqlite_template()
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(template, "rb") as source,
        open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as copy,
    ):
        shutil.copyfileobj(source, copy)
    return sqlite_url(path)
