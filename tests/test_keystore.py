"""Stored keys on SQLite and PostgreSQL: encrypted at rest, rotation loses nothing."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text, update

from bot.commands.table import COMMAND_HINTS
from byok.db import Database
from byok.db.tables import UserApiKey
from byok.errors import KeyDecryptError, KeyNotFoundError
from byok.keystore import KeyStore
from byok.secret import Secret
from byok.types import UserRef
from byok.vault import Keyring, MasterKey

ALICE = UserRef("slack", "T111", "U111")
BOB = UserRef("discord", "G222", "U222")


async def test_put_and_read_back(database: Database, keyring: Keyring, canary_key: str) -> None:
    store = KeyStore(database, keyring)
    stored = await store.put(
        ALICE,
        "openai",
        Secret(canary_key),
        label="work",
        monthly_limit=Decimal("12.50"),
        allowed_models=["gpt-4o-mini"],
    )
    assert stored.last4 == canary_key[-4:]
    assert stored.monthly_limit == Decimal("12.50")
    assert stored.allowed_models == ("gpt-4o-mini",)
    assert (await store.secret(ALICE, "openai")).reveal() == canary_key
    with pytest.raises(KeyNotFoundError):
        await store.secret(BOB, "openai")


async def test_put_replaces_the_previous_key(database: Database, keyring: Keyring) -> None:
    store = KeyStore(database, keyring)
    await store.put(ALICE, "xai", Secret("xai-first-key-0001"))
    await store.put(ALICE, "xai", Secret("xai-second-key-0002"))
    keys = await store.list(ALICE)
    assert [(k.provider_id, k.last4) for k in keys] == [("xai", "0002")]
    assert (await store.secret(ALICE, "xai")).reveal() == "xai-second-key-0002"


async def test_update_and_remove(database: Database, keyring: Keyring) -> None:
    store = KeyStore(database, keyring)
    await store.put(ALICE, "anthropic", Secret("sk-ant-example-1234"))
    updated = await store.update(ALICE, "anthropic", is_valid=False, invalid_reason="revoked")
    assert not updated.usable and updated.invalid_reason == "revoked"
    assert await store.remove(ALICE, "anthropic")
    assert not await store.remove(ALICE, "anthropic")
    assert await store.list(ALICE) == []
    with pytest.raises(KeyNotFoundError):
        await store.update(ALICE, "anthropic", is_active=False)


async def _all_stored_bytes(database: Database) -> bytes:
    """Every value of every table, as the database returns it."""
    chunks: list[bytes] = []
    async with database.session() as session:
        for table in ("users", "user_api_keys", "user_ai_preferences", "usage_events"):
            rows = await session.execute(text(f"SELECT * FROM {table}"))
            for row in rows:
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\x00".join(chunks)


async def test_plaintext_key_is_nowhere_in_the_database(
    database: Database, keyring: Keyring, canary_key: str
) -> None:
    store = KeyStore(database, keyring)
    await store.put(ALICE, "openai", Secret(canary_key))
    await store.put(BOB, "openai", Secret(canary_key))
    stored = await _all_stored_bytes(database)
    assert canary_key.encode() not in stored
    assert canary_key[:-4].encode() not in stored
    if database.dialect == "sqlite":
        await database.dispose()  # checkpoint the WAL so the file holds everything
        path = Path(database.engine.url.database or "")
        for file in path.parent.glob(path.name + "*"):
            assert canary_key[:-4].encode() not in file.read_bytes()


async def test_row_copied_to_another_user_fails_to_decrypt(
    database: Database, keyring: Keyring, canary_key: str
) -> None:
    store = KeyStore(database, keyring)
    await store.put(ALICE, "openai", Secret(canary_key))
    await store.put(BOB, "openai", Secret("sk-bob-own-key-9999"))
    async with database.session() as session:
        alice_blob = (
            await session.execute(
                text("SELECT encrypted_key FROM user_api_keys ORDER BY id LIMIT 1")
            )
        ).scalar_one()
        await session.execute(
            update(UserApiKey)
            .where(UserApiKey.key_last4 == "9999")
            .values(encrypted_key=alice_blob)
        )
    with pytest.raises(KeyDecryptError) as caught:
        await store.secret(BOB, "openai")
    shown = COMMAND_HINTS.error_text(caught.value)
    assert canary_key not in str(caught.value) and canary_key not in shown


async def _seed(store: KeyStore, count: int) -> dict[UserRef, str]:
    keys = {}
    for n in range(count):
        owner = UserRef("slack", "T1", f"U{n}")
        keys[owner] = f"sk-user{n}-" + os.urandom(12).hex()
        await store.put(owner, "openai", Secret(keys[owner]))
    return keys


async def test_rotation_keeps_every_key_readable_even_when_interrupted(
    database: Database,
) -> None:
    old = MasterKey.from_bytes(os.urandom(32))
    new = MasterKey.from_bytes(os.urandom(32))
    keys = await _seed(KeyStore(database, Keyring(old)), 7)

    rotating = KeyStore(database, Keyring(new, [old]))
    interrupted = await rotating.rotate(batch_size=2, max_rows=3)
    assert interrupted.rotated == 3
    assert await rotating.count_by_master_key() == {old.key_id: 4, new.key_id: 3}
    for owner, plain in keys.items():  # half-rotated: every key still readable
        assert (await rotating.secret(owner, "openai")).reveal() == plain

    finished = await rotating.rotate(batch_size=2)
    assert (finished.rotated, finished.unreadable) == (4, 0)
    assert await rotating.count_by_master_key() == {new.key_id: 7}
    new_only = KeyStore(database, Keyring(new))
    for owner, plain in keys.items():
        assert (await new_only.secret(owner, "openai")).reveal() == plain
    again = await rotating.rotate()
    assert again.rotated == 0 and again.already_current == 7


async def test_rotation_reports_rows_under_an_unknown_key(database: Database) -> None:
    lost = MasterKey.from_bytes(os.urandom(32))
    new = MasterKey.from_bytes(os.urandom(32))
    await _seed(KeyStore(database, Keyring(lost)), 2)
    report = await KeyStore(database, Keyring(new)).rotate()
    assert (report.rotated, report.unreadable) == (0, 2)
    assert await KeyStore(database, Keyring(new)).count_by_master_key() == {lost.key_id: 2}
