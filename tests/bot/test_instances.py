"""The instance registry: rows kept alive by heartbeats, and one ``run`` per SQLite file."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.instances import (
    InstanceRegistry,
    SeveralInstancesOnSQLiteError,
    format_shards,
    parse_shards,
)
from byok.db import Database
from byok.db.clock import db_seconds
from byok.db.tables import BotInstance
from byok.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


async def _ids(database: Database) -> set[str]:
    async with database.session() as session:
        return set(await session.scalars(select(BotInstance.id)))


async def _add_row(database: Database, row_id: str, *, seen_in_s: float) -> None:
    now = db_seconds(database.dialect)
    async with database.session() as session:
        await session.execute(
            insert(BotInstance).values(
                id=row_id, name="other", started_at=now, seen_until=now + seen_in_s
            )
        )


async def _run_elsewhere(url: str, name: str) -> asyncio.subprocess.Process:
    """Another ``run`` process's registration: it prints its id and stays alive."""
    script = (
        "import asyncio, sys\n"
        "from bot.instances import InstanceRegistry\n"
        "from byok.db import Database\n"
        "async def main():\n"
        "    registry = InstanceRegistry(Database(sys.argv[1]), sys.argv[2])\n"
        "    await registry.register()\n"
        "    print(registry.id, flush=True)\n"
        "    await asyncio.sleep(120)\n"
        "asyncio.run(main())\n"
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, url, name, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )


async def _dead_pid() -> int:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await process.wait()
    return process.pid


async def test_instances_register_heartbeat_list_and_deregister(database: Database) -> None:
    first = InstanceRegistry(database, "bot-a", ttl_s=30)
    second = InstanceRegistry(database, "bot-a", ttl_s=30)
    assert first.id != second.id and len(first.id) <= 96
    await first.register()

    seen = await first.heartbeat([3, 1, 2, 7])
    assert [(i.id, i.name, i.discord_shards) for i in seen] == [(first.id, "bot-a", (1, 2, 3, 7))]
    if database.dialect == "postgresql":  # SQLite refuses a second run: see below
        await second.register()
        live = await second.live()
        assert [i.id for i in live] == [first.id, second.id]  # oldest first
        assert live[0].started_at <= live[1].started_at

    await first.deregister()
    assert first.id not in {i.id for i in await second.live()}


async def test_a_heartbeat_renews_re_registers_and_sweeps_day_old_rows(database: Database) -> None:
    registry = InstanceRegistry(database, "bot-a", ttl_s=30)
    await _add_row(database, "long-gone@elsewhere:1/abcdef", seen_in_s=-2 * 86_400)
    await _add_row(database, "just-gone@elsewhere:1/abcdef", seen_in_s=-60)

    live = await registry.heartbeat()  # never registered, or swept meanwhile: inserted
    assert [i.id for i in live] == [registry.id]
    assert await _ids(database) == {registry.id, "just-gone@elsewhere:1/abcdef"}


@pytest.mark.slow
async def test_a_second_live_run_on_one_sqlite_file_is_refused_clearly(
    sqlite_database: Database,
) -> None:
    running = await _run_elsewhere(sqlite_database.url, "bot-on-host-a")
    try:
        running_id = (await running.stdout.readline()).decode().strip()  # type: ignore[union-attr]
        with pytest.raises(SeveralInstancesOnSQLiteError) as refused:
            await InstanceRegistry(sqlite_database, "bot-on-host-b").register()
        assert isinstance(refused.value, ConfigError)
        message = str(refused.value)
        assert message.startswith(
            f"another `byok-bot run` (bot-on-host-a, instance {running_id}) is using the "
            "SQLite database"
        )
        assert "several `run` instances need PostgreSQL" in message
        assert 'set [database] url = "postgresql+asyncpg://' in message
        assert "`byok-bot console` beside one `run` is fine" in message
        assert await _ids(sqlite_database) == {running_id}
    finally:
        running.send_signal(signal.SIGKILL)
        await running.wait()
    # Killed outright, its row still says it is alive; its pid says otherwise.
    restarted = InstanceRegistry(sqlite_database, "bot-on-host-a")
    await restarted.register()
    assert await _ids(sqlite_database) == {restarted.id}


async def test_an_earlier_life_of_this_pid_does_not_block_a_start(
    sqlite_database: Database,
) -> None:
    # PID 1 in a container that restarted: its last row names the pid it has again.
    host = socket.gethostname()[:24]
    await _add_row(sqlite_database, f"bot@{host}:{os.getpid()}/abcdef", seen_in_s=30)
    registry = InstanceRegistry(sqlite_database, "bot")
    await registry.register()
    assert await _ids(sqlite_database) == {registry.id}


@pytest.mark.slow
async def test_on_sqlite_a_dead_process_or_a_run_out_row_does_not_block_a_start(
    sqlite_database: Database,
) -> None:
    host = socket.gethostname()[:24]
    killed = f"bot@{host}:{await _dead_pid()}/abcdef"  # this host, its pid not running
    await _add_row(sqlite_database, killed, seen_in_s=30)
    await _add_row(sqlite_database, "bot@other-host:1/abcdef", seen_in_s=-1)  # ran out

    registry = InstanceRegistry(sqlite_database, "bot")
    await registry.register()
    assert await _ids(sqlite_database) == {registry.id, "bot@other-host:1/abcdef"}
    assert [i.id for i in await registry.live()] == [registry.id]


@pytest.mark.slow
async def test_on_sqlite_a_live_process_of_this_host_is_respected(
    sqlite_database: Database,
) -> None:
    host = socket.gethostname()[:24]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)"
    )
    try:
        await _add_row(sqlite_database, f"bot@{host}:{process.pid}/abcdef", seen_in_s=30)
        with pytest.raises(SeveralInstancesOnSQLiteError):
            await InstanceRegistry(sqlite_database, "bot").register()
    finally:
        process.kill()
        await process.wait()


def test_shard_lists_are_stored_as_ranges_that_fit_the_column() -> None:
    assert format_shards([9, 0, 1, 2, 3, 7, 10, 11, 12]) == "0-3,7,9-12"
    assert format_shards([]) == "" and parse_shards("") == ()
    assert parse_shards("0-3,7,9-12") == (0, 1, 2, 3, 7, 9, 10, 11, 12)
    every_other = list(range(0, 2000, 2))
    text = format_shards(every_other)
    assert len(text) <= 400 and not text.endswith(",")
    assert parse_shards(text) == tuple(every_other[: len(parse_shards(text))])
