"""Schema migrations with Alembic, run from code (``byok-bot db upgrade``); a downgrade
too, for tests and an operator going back a release.

On PostgreSQL an advisory lock serialises upgrades, so several instances starting
at once never run the same migration twice.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from byok.db.database import Database

__all__ = ["current_revision", "downgrade", "head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_ID = 0x6279_6F6B  # "byok"


def _alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade_sync(
    connection: Connection, target: str, down: bool = False
) -> tuple[str | None, str | None]:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        connection.commit()
    try:
        before = _current_sync(connection)
        migrate = command.downgrade if down else command.upgrade
        migrate(_alembic_config(connection), target)
        connection.commit()
        return before, _current_sync(connection)
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _ADVISORY_LOCK_ID})
            connection.commit()


def _current_sync(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database: Database, target: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``target``; returns the revisions before and after."""
    async with database.engine.connect() as conn:
        before, after = await conn.run_sync(_upgrade_sync, target)
    return before, after or ""


async def downgrade(database: Database, target: str) -> tuple[str | None, str]:
    """Take the schema back to ``target`` (what each migration's ``downgrade`` undoes is
    lost: rows only a later revision can hold are deleted); the revisions before and after.
    """
    async with database.engine.connect() as conn:
        before, after = await conn.run_sync(_upgrade_sync, target, True)
    return before, after or ""


async def current_revision(database: Database) -> str | None:
    async with database.engine.connect() as conn:
        return await conn.run_sync(_current_sync)
