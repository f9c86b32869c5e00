"""On a SQLite file, an ask reads its user's state on a read-only connection of its own:
a write holding the one write connection (a batch of usage rows, a key being added) does
not make every ask wait for it, a long report (the digest) leaves a reading connection for
the asks, and the reading connections cannot change anything."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from byok.db import Database
from byok.db.database import SQLITE_READERS
from byok.engine import EngineSettings
from tests.engine.conftest import ALICE, MakeRig

#: No kept states: every ask reads its user from the database.
EVERY_ASK_READS = EngineSettings(requests_per_minute=10_000, user_state_ttl_s=0)


async def test_an_ask_reads_its_user_while_a_write_holds_the_connection(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(settings=EVERY_ASK_READS)
    await rig.add_key("openai")
    database = rig.engine.database
    async with database.transaction() as writing:
        await writing.execute(text("UPDATE users SET display_name = display_name"))
        # The write connection is taken and its transaction open: the read goes beside it.
        state = await asyncio.wait_for(rig.engine.user_state(ALICE), timeout=10)
    assert set(state.keys) == {"openai"}
    # And what was committed is what the next read sees.
    await rig.service().remove_key("openai")
    assert (await rig.engine.user_state(ALICE)).keys == {}


async def test_the_reading_connections_cannot_write(make_rig: MakeRig) -> None:
    rig = await make_rig(settings=EVERY_ASK_READS)
    await rig.add_key("openai")
    async with rig.engine.database.reading() as reading:
        with pytest.raises(OperationalError, match="readonly"):
            await reading.execute(text("DELETE FROM user_api_keys"))
    assert set((await rig.engine.user_state(ALICE)).keys) == {"openai"}


async def test_long_reports_leave_a_reading_connection_for_the_asks(make_rig: MakeRig) -> None:
    rig = await make_rig(settings=EVERY_ASK_READS)
    await rig.add_key("openai")
    database = rig.engine.database
    async with contextlib.AsyncExitStack() as reports:
        for _ in range(SQLITE_READERS - 1):  # as many as a report may take, all busy
            await reports.enter_async_context(database.reading(bulk=True))
        another_report = asyncio.ensure_future(_read_one(database, bulk=True))
        state = await asyncio.wait_for(rig.engine.user_state(ALICE), timeout=10)
        assert set(state.keys) == {"openai"}
        await asyncio.sleep(0.1)
        assert not another_report.done()  # it waits for a report's connection
    assert await asyncio.wait_for(another_report, timeout=10) == 1


async def _read_one(database: Database, *, bulk: bool) -> int:
    async with database.reading(bulk=bulk) as reading:
        return int((await reading.execute(text("SELECT 1"))).scalar_one())
