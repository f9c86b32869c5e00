"""bench/hot_path.py at a tiny size: every case runs, and each goes where its name says.

Not a benchmark (nothing here is timed): the engine cases must really have gone through
the engine that caches (``hit``) or the one that does not (``miss``), with the users whose
keys carry a monthly limit (``limit``) or not, and every call must have been answered.
"""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import hot_path
from bench.common import fake_services
from byok.db import Database
from byok.db.tables import UsageEvent, User, UserApiKey

pytestmark = pytest.mark.slow  # it runs the fake services as processes (tests/processes.py)

CONCURRENCY = (1, 2)


async def rows_by_prefix(url: str) -> tuple[dict[str, int], dict[str, set[Decimal | None]]]:
    """Successful answers per user-name prefix (U: no limit, L: limited), and their limits."""
    database = Database(url)
    try:
        async with database.session() as session:
            answers = await session.execute(
                select(func.substr(User.user_id, 1, 1), func.count())
                .join(UsageEvent, UsageEvent.user_ref == User.id)
                .where(UsageEvent.outcome == "success")
                .group_by(func.substr(User.user_id, 1, 1))
            )
            counted = {prefix: n for prefix, n in answers.all()}
            limits: dict[str, set[Decimal | None]] = {}
            keys = await session.execute(
                select(User.user_id, UserApiKey.monthly_limit).join(
                    UserApiKey, UserApiKey.user_ref == User.id
                )
            )
            for user_id, limit in keys.all():
                limits.setdefault(user_id[0], set()).add(limit)
    finally:
        await database.dispose()
    return counted, limits


async def test_every_case_runs_and_goes_where_its_name_says(tmp_path: Path) -> None:
    args = hot_path.parse(
        ["--no-postgres", "--rounds", "2", "--calls", "4", "--concurrency", "1,2"]
    )
    urls = (f"sqlite+aiosqlite:///{tmp_path}/hit.db", f"sqlite+aiosqlite:///{tmp_path}/miss.db")
    async with fake_services(keys=4) as (fakes, pid):
        found = await hot_path.run_database("SQLite", urls, fakes, hot_path.Watched(pid), args)

    assert {(s.concurrency, s.case) for s in found} == {
        (n, case) for n in CONCURRENCY for case in hot_path.CASES
    }
    for series in found:
        assert [len(run.samples) for run in series.runs] == [4, 4]
        assert all(run.cpu > 0 and run.rss_mib > 0 for run in series.runs)

    # each engine case: its warm-up and its rounds, all answered, in its own database
    per_case = sum(
        hot_path.calls_made(hot_path.warm_up_calls(n), n) + 2 * hot_path.calls_made(4, n)
        for n in CONCURRENCY
    )
    cached, cached_limits = await rows_by_prefix(urls[0])  # 'engine hit' and 'limit hit'
    uncached, uncached_limits = await rows_by_prefix(urls[1])  # the two 'miss' cases
    assert cached == uncached == {"U": per_case, "L": per_case}
    for limits in (cached_limits, uncached_limits):
        assert limits == {"U": {None}, "L": {hot_path.MONTHLY_LIMIT}}

    table = hot_path.report(found)
    rows = [line for line in table if line.startswith("| SQLite | openai chat |")]
    assert len(rows) == 2 * len(hot_path.CASES) + len(hot_path.CASES)  # + the short table
    assert any("added p50 < 1 ms" in line for line in table)  # the 1-user target row


async def test_a_run_whose_calls_stop_being_answered_is_reported_stuck() -> None:
    answered = 0

    async def call(index: int) -> None:
        nonlocal answered
        if answered >= 3:
            await asyncio.Event().wait()  # never answered
        answered += 1

    with pytest.raises(hot_path.Stalled, match="3 of 4 calls answered"):
        await hot_path.measure(call, 4, 1, hot_path.Watched(os.getpid()), None, stall_s=0.3)
