"""The SQLite file the bot creates holds usage and sealed keys: its owner alone reads it."""

from __future__ import annotations

import stat
from pathlib import Path

from byok.db import Database, upgrade


async def test_a_new_sqlite_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "byok.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(database)
        await database.ping()  # open: the -wal and -shm files exist beside the database
        files = [path, path.with_name("byok.db-wal"), path.with_name("byok.db-shm")]
        modes = {file.name: oct(stat.S_IMODE(file.stat().st_mode)) for file in files}
        assert modes == dict.fromkeys(modes, "0o600")
    finally:
        await database.dispose()
