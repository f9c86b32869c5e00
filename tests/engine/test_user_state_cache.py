"""Kept user states: long-lived, spread expiries, bounded, and never stale after a change
made elsewhere (another Engine, another connection to the same SQLite file, another
process) — a disabled key or a lowered limit is honoured on the next ask."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from byok.db import Database
from byok.db.state_changes import LISTENER_NAME, PostgresChangeListener, SqliteCommitWatch
from byok.engine import EngineSettings
from byok.errors import SpendLimitError
from byok.keystore import KeyStore
from byok.preferences import Preferences, PreferenceStore
from byok.types import UserRef
from byok.user_state import UserState, UserStateCache
from byok.vault import Keyring
from tests.engine.conftest import ALICE, MakeRig, Rig

QUESTION = [{"role": "user", "content": "What is 2+2?"}]
# Checks SQLite's data_version before every use of a kept state, so "the next ask" is exact.
EXACT = EngineSettings(requests_per_minute=10_000, user_state_check_s=0.0)


def _state(n: int) -> UserState:
    return UserState(n, Preferences(), {}, {})


def _users(n: int) -> list[UserRef]:
    return [UserRef("slack", "T", f"U{i}") for i in range(n)]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expiries_are_spread_around_the_ttl() -> None:
    clock = FakeMonotonic()
    cache = UserStateCache(300.0, jitter=0.2, monotonic=clock, rng=random.Random(7))
    users = _users(200)
    for i, user in enumerate(users):
        cache.put(user, _state(i), cache.generation)
    lifetimes = [cache.expires_at(user) - clock.now for user in users]  # type: ignore[operator]
    assert all(240.0 <= life <= 360.0 for life in lifetimes)
    assert max(lifetimes) - min(lifetimes) > 100.0  # not one moment for everyone
    clock.now += 300.0
    kept = sum(1 for user in users if cache.get(user) is not None)
    assert 0 < kept < len(users)
    clock.now += 61.0
    assert all(cache.get(user) is None for user in users)
    assert len(cache) == 0


def test_a_full_cache_drops_the_least_recently_used_entry_only() -> None:
    cache = UserStateCache(300.0, max_users=3)
    a, b, c, d = _users(4)
    for i, user in enumerate((a, b, c)):
        cache.put(user, _state(i), cache.generation)
    assert cache.get(a) is not None  # a is now the most recently used
    cache.put(d, _state(3), cache.generation)
    assert len(cache) == 3
    assert cache.get(b) is None
    assert all(cache.get(user) is not None for user in (a, c, d))


def test_a_load_that_raced_a_change_is_not_kept() -> None:
    cache = UserStateCache(300.0)
    before = cache.generation
    cache.forget(ALICE)
    cache.put(ALICE, _state(1), before)
    assert cache.get(ALICE) is None


async def test_ttl_zero_keeps_nothing(make_rig: MakeRig) -> None:
    rig = await make_rig(settings=EngineSettings(requests_per_minute=10_000, user_state_ttl_s=0))
    await rig.add_key("openai")
    await rig.service().chat(QUESTION)
    assert rig.engine.state_cache is None and rig.engine.state_changes is None


async def _ask_once_kept(rig: Rig) -> None:
    """Ask until the user's state is kept (PostgreSQL keeps it once its listener listens)."""
    cache = rig.engine.state_cache
    assert cache is not None
    for _ in range(200):
        await rig.service().chat(QUESTION, provider="openai")
        if cache.get(ALICE) is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the user's state was never kept")


async def _refused_soon(ask: Callable[[], Awaitable[object]]) -> BaseException:
    """The error of the first ask that is refused; PostgreSQL's notification needs a
    moment to arrive, so a few asks may pass first (far fewer than the TTL allows)."""
    for _ in range(100):
        try:
            await ask()
        except Exception as exc:
            return exc
        await asyncio.sleep(0.05)
    raise AssertionError("the change made elsewhere was never seen")


async def _until(condition: Callable[[], bool], *, tries: int = 300) -> bool:
    """Whether ``condition`` came true, looking every 20 ms (a bound, not a timing)."""
    for _ in range(tries):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


# --- SQLite: other connections and processes -----------------------------------------


async def test_sqlite_key_disabled_through_another_connection_is_honoured_next(
    make_rig: MakeRig, keyring: Keyring, tmp_path: Path
) -> None:
    rig = await make_rig(settings=EXACT)
    await rig.add_key("openai")
    await _ask_once_kept(rig)
    other = Database(rig.engine.database.url)  # as the console would open it
    try:
        await KeyStore(other, keyring).update(ALICE, "openai", is_active=False)
    finally:
        await other.dispose()
    with pytest.raises(Exception, match="disabled"):
        await rig.service().chat(QUESTION, provider="openai")


@pytest.mark.slow
async def test_sqlite_limit_lowered_by_another_process_is_honoured_next(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(settings=EXACT)
    await rig.add_key("openai")
    await _ask_once_kept(rig)
    path = rig.engine.database.engine.url.database
    assert path is not None
    script = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        "db.execute('UPDATE user_api_keys SET monthly_limit = 1')\n"  # 1 nano-dollar
        "db.commit()\n"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, path)
    assert await process.wait() == 0
    with pytest.raises(SpendLimitError):
        await rig.service().chat(QUESTION, provider="openai")


@pytest.mark.slow  # waits a second by design
async def test_sqlite_default_checks_are_made_in_passing_and_within_a_second(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig()
    await rig.add_key("openai")
    await _ask_once_kept(rig)
    path = rig.engine.database.engine.url.database
    assert path is not None
    with sqlite3.connect(path) as other:
        other.execute("UPDATE user_api_keys SET is_active = 0")
    # Within the check interval a kept state may still be used; after it, never.
    await asyncio.sleep(1.1)
    with pytest.raises(Exception, match="disabled"):
        await rig.service().chat(QUESTION, provider="openai")


async def test_sqlite_own_commits_do_not_drop_kept_states(make_rig: MakeRig) -> None:
    rig = await make_rig(settings=EXACT)
    await rig.add_key("openai")
    await rig.add_key("anthropic", user=UserRef("slack", "T111", "U999"))
    await _ask_once_kept(rig)
    cache = rig.engine.state_cache
    assert cache is not None
    await rig.service().chat(QUESTION, provider="openai")  # its usage row: our own commit
    await rig.engine.ledger.flush()
    await rig.service().chat(QUESTION, provider="openai")
    assert cache.get(ALICE) is not None


async def test_sqlite_watch_reads_data_version_on_the_write_connection(
    sqlite_database: Database,
) -> None:
    forgotten: list[UserRef | None] = []
    watch = SqliteCommitWatch(sqlite_database, forgotten.append, check_s=0.0)
    try:
        assert await watch.ready()
        forgotten.clear()
        async with sqlite_database.session() as session:  # this process's own commit
            await session.execute(text("UPDATE users SET created_at = created_at"))
        assert await watch.ready()
        assert forgotten == []
        path = sqlite_database.engine.url.database
        assert path is not None
        with sqlite3.connect(path) as other:
            other.execute(
                "INSERT INTO users (platform, workspace_id, user_id, created_at) "
                "VALUES ('slack', 'T', 'U', '2026-01-01 00:00:00.000000')"
            )
        assert await watch.ready()
        assert forgotten == [None]
    finally:
        await watch.aclose()


# --- PostgreSQL: other instances -------------------------------------------------------


@pytest.fixture
def pg_url(postgres_server: object) -> str:
    return postgres_server.create_migrated_database()  # type: ignore[attr-defined, no-any-return]


async def _pg_database(url: str) -> Database:
    return Database(url)


async def test_postgres_key_disabled_by_another_engine_is_honoured(
    make_rig: MakeRig, pg_url: str
) -> None:
    here = await make_rig(await _pg_database(pg_url))
    there = await make_rig(Database(pg_url))
    await here.add_key("openai")
    await _ask_once_kept(here)
    await there.service().set_key_enabled("openai", False)
    refused = await _refused_soon(lambda: here.service().chat(QUESTION, provider="openai"))
    assert "disabled" in str(refused)


async def test_postgres_limit_lowered_by_another_engine_is_honoured(
    make_rig: MakeRig, pg_url: str
) -> None:
    here = await make_rig(await _pg_database(pg_url))
    there = await make_rig(Database(pg_url))
    await here.add_key("openai")
    await _ask_once_kept(here)
    await there.service().set_monthly_limit("openai", Decimal("0.000000001"))
    refused = await _refused_soon(lambda: here.service().chat(QUESTION, provider="openai"))
    assert isinstance(refused, SpendLimitError)


async def test_postgres_preferences_changed_by_a_bare_store_are_seen(
    make_rig: MakeRig, pg_url: str
) -> None:
    here = await make_rig(await _pg_database(pg_url))
    await here.add_key("openai")
    await _ask_once_kept(here)
    other = Database(pg_url)
    try:
        await PreferenceStore(other).update(ALICE, max_tokens_per_request=7)
    finally:
        await other.dispose()
    cache = here.engine.state_cache
    assert cache is not None
    for _ in range(100):
        state = await here.engine.user_state(ALICE)
        if state.prefs.max_tokens_per_request == 7:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the preference changed elsewhere was never seen")


async def test_postgres_lost_listener_clears_and_stops_serving_until_it_listens_again(
    make_rig: MakeRig, pg_url: str
) -> None:
    rig = await make_rig(await _pg_database(pg_url))
    await rig.add_key("openai")
    await _ask_once_kept(rig)
    listener = rig.engine.state_changes
    cache = rig.engine.state_cache
    assert isinstance(listener, PostgresChangeListener) and cache is not None
    assert listener.connections == 1
    async with rig.engine.database.session() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = '{LISTENER_NAME}'"
            )
        )
    assert await _until(lambda: not listener.listening)
    assert len(cache) == 0
    assert not await listener.ready()  # nothing kept is used until it listens again
    assert await _until(lambda: listener.listening and listener.connections == 2)
    await _ask_once_kept(rig)


async def test_postgres_listener_is_closed_with_the_engine(pg_url: str, keyring: Keyring) -> None:
    from byok.catalog import Catalog
    from byok.engine import Engine

    database = await _pg_database(pg_url)
    engine = Engine(database, keyring, Catalog({}, {}))
    listener = engine.state_changes
    assert isinstance(listener, PostgresChangeListener)
    await engine.user_state(ALICE)  # starts it
    assert await _until(lambda: listener.listening)
    await engine.aclose()
    assert not listener.listening
    probe = Database(pg_url)
    try:
        for _ in range(200):  # the server takes a moment to see the connection closed
            async with probe.session() as session:
                listening = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        f"WHERE application_name = '{LISTENER_NAME}'"
                    )
                )
            if listening == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await probe.dispose()
    assert listening == 0
