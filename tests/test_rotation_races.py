"""Master-key rotation never writes back a record that changed after it was read.

The interleaving is made deterministic with a SQLAlchemy event on the rotating process's
real engine: right after rotation has read its batch, another "process" (a second
Database on the same file or server, as the running bot is beside ``keys rotate``)
replaces the record through the public API; only then does rotation write. The bot
still seals with the old master key, so the new record needs rotating too.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from byok.db import Database
from byok.installations import InstallationStore
from byok.keystore import KeyStore
from byok.secret import Secret
from byok.types import UserRef
from byok.vault import Keyring, MasterKey

ALICE = UserRef("slack", "T1", "U1")
BOB = UserRef("slack", "T1", "U2")
CAROL = UserRef("slack", "T1", "U3")


@contextmanager
def after_first_read_of(
    database: Database, table: str, meanwhile: Callable[[], Awaitable[object]]
) -> Iterator[list[str]]:
    """Run ``meanwhile`` to completion right after ``database`` first SELECTs ``table``."""
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if seen or not statement.lstrip().upper().startswith("SELECT") or table not in statement:
            return
        seen.append(statement)
        # The documented way to await from inside a sync engine event.
        conn.connection.dbapi_connection.run_async(lambda _driver: meanwhile())

    engine = database.engine.sync_engine
    event.listen(engine, "after_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", hook)


def _key() -> str:
    return "sk-canary-" + secrets.token_hex(16)


async def test_a_key_replaced_or_removed_during_rotation_stays_as_its_user_left_it(
    database: Database, db_url: str
) -> None:
    old = MasterKey.from_bytes(os.urandom(32))
    new = MasterKey.from_bytes(os.urandom(32))
    bot_db = Database(db_url)  # the running bot, still on the old master key
    try:
        bot = KeyStore(bot_db, Keyring(old))
        first, replacement, bobs = _key(), _key(), _key()
        await bot.put(ALICE, "openai", Secret(first))
        await bot.put(BOB, "openai", Secret(bobs))
        await bot.put(CAROL, "openai", Secret(_key()))
        rotating = KeyStore(database, Keyring(new, [old]))

        async def replace_and_remove() -> None:
            await bot.put(ALICE, "openai", Secret(replacement))
            await bot.remove(CAROL, "openai")

        with after_first_read_of(database, "user_api_keys", replace_and_remove) as seen:
            report = await rotating.rotate(batch_size=10)
        assert seen, "rotation never read its batch"

        new_only = KeyStore(database, Keyring(new))
        assert (await new_only.secret(ALICE, "openai")).reveal() == replacement
        assert (await new_only.secret(BOB, "openai")).reveal() == bobs
        assert await new_only.list(CAROL) == []
        assert await new_only.count_by_master_key() == {new.key_id: 2}
        # Alice's stale write and Carol's were skipped; Alice's new key was read again.
        assert (report.rotated, report.changed_meanwhile, report.unreadable) == (2, 2, 0)
    finally:
        await bot_db.dispose()


async def test_a_workspace_reinstalled_during_rotation_keeps_its_new_tokens(
    database: Database, db_url: str
) -> None:
    old = MasterKey.from_bytes(os.urandom(32))
    new = MasterKey.from_bytes(os.urandom(32))
    bot_db = Database(db_url)
    try:
        bot = InstallationStore(bot_db, Keyring(old))
        first = "xoxb-" + secrets.token_hex(12)
        reinstalled = "xoxb-" + secrets.token_hex(12)
        await bot.save(None, "T1", {"bot_token": first})
        await bot.save("E1", "T2", {"bot_token": "xoxb-" + secrets.token_hex(12)})

        async def reinstall() -> None:
            await bot.save(None, "T1", {"bot_token": reinstalled})

        with after_first_read_of(database, "slack_installations", reinstall) as seen:
            resealed, unreadable = await InstallationStore(database, Keyring(new, [old])).rotate()
        assert seen, "rotation never read the installations"

        assert (resealed, unreadable) == (2, 0)
        fresh = InstallationStore(database, Keyring(new))
        assert await fresh.find(None, "T1") == {"bot_token": reinstalled}
        assert await fresh.find("E1", "T2") is not None
    finally:
        await bot_db.dispose()
