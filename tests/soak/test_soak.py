"""Soak: many asks from 50 users through the Slack path while the providers misbehave.

Signed ``/ask`` slash commands go into the real slack-bolt app of a ``SlackAdapter`` on the
real engine, once on SQLite and once on a real PostgreSQL; the fake providers answer
through the official SDKs and inject, per generation request, 10% HTTP 500, 5% timeouts
(a stalled answer), 5% 429 with Retry-After, 2% streams cut after two words, 3% garbage
usage (a token count that is NaN, text, negative or 2^40) and 2% a served model name
longer than the usage table's column (a row PostgreSQL refuses, among the rows of the
other users answered meanwhile) — drawn from a seed per (ask, provider), so a failure
reproduces. Half the users have auto-switch on with a fallback provider; the other half
have it off but hold a second key all the same. Every user's keys are canaries made at
run time.

Checked, for every ask: it ends in the fake Slack as an answer (footer), an answer marked
incomplete, or a clear error naming the providers tried — exactly what its injected faults
call for; fallbacks happen exactly where enabled; each attempt has exactly one usage
row (the provider saw one request per attempt: retries are off); every request reached
the provider with its own user's key. An answer with garbage usage is delivered ("tokens
not reported") and its row has cost unknown (NULL: never $0, never millions) and no
tokens; an answer whose row the database refused is delivered, and its one row says
so (an error of kind ``unrecordable``, its model cut to the column) while every other
row of its batch is written as it was. For the whole run: no log record at any level
holds a key, none is an ERROR, none at WARNING or above carries a traceback (SDKs note
handled timeouts with one at DEBUG), exactly one WARNING per garbage usage and per
refused row, no key is in any call to Slack, and the memory retained over the second
half stays within a bound per ask (tracemalloc, after the fakes' recordings are dropped;
RSS is reported too). A process killed mid-answer is tests/soak/test_crash_restart.py.

CI runs 300 asks on SQLite and 150 on PostgreSQL; the full soak is
``BYOK_SOAK_ASKS=2000 .venv/bin/pytest tests/soak -s`` (``-s`` prints the summary).
``BYOK_SOAK_DB=sqlite`` (or ``postgresql``) runs one database only; ``BYOK_SOAK_SEED``,
``BYOK_SOAK_USERS``, ``BYOK_SOAK_PG_ASKS`` and ``BYOK_SOAK_TIMEOUT_S`` (the provider
timeout, default 6 s) change the run. Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from adapters.slack import SlackAdapter, SlackOptions
from bot.config import SlackSettings
from bot.context import BotContext
from bot.dispatch import Dispatcher
from byok.db import Database
from byok.db.tables import UsageEvent
from byok.service import BYOKService
from byok.types import UserRef
from byok.users import get_user_id
from tests.engine.conftest import MakeRig, Rig
from tests.fakes.fake_slack import FakeSlack
from tests.soak.faults import (
    ANSWERING_KINDS,
    ASK_ID,
    FALLBACK_KINDS,
    OVERLONG_MODEL,
    FaultPlan,
    Injected,
)

ASKS = {
    "sqlite": int(os.environ.get("BYOK_SOAK_ASKS", "300")),
    "postgresql": int(os.environ.get("BYOK_SOAK_PG_ASKS", os.environ.get("BYOK_SOAK_ASKS", "150"))),
}
USERS = int(os.environ.get("BYOK_SOAK_USERS", "50"))
SEED = int(os.environ.get("BYOK_SOAK_SEED", "20261118"))
# Well above the event loop's lag here: under tracemalloc (the second half) one turn of the
# loop shared by the fakes, 50 users and the engine took up to 1 s on a quiet 2-core VM, so
# a 2 s timeout could expire before the fake had read the request.
TIMEOUT_S = float(os.environ.get("BYOK_SOAK_TIMEOUT_S", "6"))
ONLY_DATABASE = os.environ.get("BYOK_SOAK_DB")
#: The error kind of a row the database refused, written in a form it takes.
UNRECORDABLE = "unrecordable"
PROVIDERS = ("openai", "anthropic", "google", "xai")
TEAM = "T111"
QUESTION = "What is the capital of France?"
#: Bytes the process may keep per ask over the second half (a leak of a request's
#: worth of objects per ask would be several times this).
GROWTH_PER_ASK = 2048
#: Allowance for one-off growth (caches filling, pools, allocator arenas).
GROWTH_FIXED = 2 * 1024 * 1024
ASK_WITHIN = 60.0  # seconds: a bound on awaiting one ask's outcome, never a pause


@dataclass(frozen=True, slots=True)
class SoakUser:
    index: int
    ref: UserRef
    primary: str
    fallback: str
    auto_switch: bool


def soak_users(count: int) -> list[SoakUser]:
    users = []
    for index in range(count):
        turn = index // 2
        users.append(
            SoakUser(
                index=index,
                ref=UserRef("slack", TEAM, f"U{index:04d}"),
                primary=PROVIDERS[turn % len(PROVIDERS)],
                fallback=PROVIDERS[(turn + 1) % len(PROVIDERS)],
                auto_switch=index % 2 == 0,
            )
        )
    return users


class SoakSlack(FakeSlack):
    """The fake Slack, noting how each ask's channel ended: answer, incomplete or error."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, tuple[str, str]] = {}  # channel -> (outcome, text shown)

    def _final(self, channel: str) -> None:
        for message in self.messages.get(channel, []):
            shown = str(message.get("blocks"))
            if "stopped early" in shown:
                self.outcomes[channel] = ("incomplete", shown)
            elif " out tokens" in shown or "tokens not reported" in shown:
                self.outcomes[channel] = ("answer", shown)

    def m_chat_update(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        answer = super().m_chat_update(args, token)
        self._final(args["channel"])
        return answer

    def m_chat_postMessage(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        answer = super().m_chat_postMessage(args, token)
        self._final(args["channel"])
        return answer

    def m_chat_postEphemeral(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        answer = super().m_chat_postEphemeral(args, token)
        self.outcomes[args["channel"]] = ("error", str(args.get("blocks")) + str(args["text"]))
        return answer


class LogWatch(logging.Handler):
    """Checks every log record as it is emitted; keeps only what failed (bounded memory)."""

    def __init__(self, secrets_: Sequence[str]) -> None:
        super().__init__(logging.DEBUG)
        self.secrets = list(secrets_)
        self.records = 0
        self.leaks: list[str] = []
        self.failures: list[str] = []
        self.implausible_usage = 0  # WARNINGs of garbage usage from a provider
        self.refused_rows = 0  # WARNINGs of a usage row the database refused
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        if "canary" in text or any(s in text for s in self.secrets):
            self.leaks.append(f"{record.name} {record.levelname}: {text[:500]}")
        if record.levelno == logging.WARNING:
            self.implausible_usage += "reported implausible usage" in text
            self.refused_rows += "usage writer: the database refused" in text
        # An SDK notes a handled timeout with its traceback at DEBUG; a traceback at
        # WARNING or above, or any ERROR, is something nobody handled.
        if record.levelno >= logging.ERROR or (
            record.exc_info and record.levelno >= logging.WARNING
        ):
            self.failures.append(f"{record.name} {record.levelname}: {text[:2000]}")


@contextmanager
def watching_logs(secrets_: Sequence[str]) -> Iterator[LogWatch]:
    """Every record of every logger at DEBUG into the watch, none into pytest's report
    (which keeps every record: a hundred thousand of them would be the run's biggest leak)."""
    root = logging.getLogger()
    watch = LogWatch(secrets_)
    saved_levels = [(handler, handler.level) for handler in root.handlers]
    saved_root = root.level
    for handler in root.handlers:
        handler.setLevel(logging.WARNING)
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        root.setLevel(saved_root)
        for handler, level in saved_levels:
            handler.setLevel(level)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Soak:
    rig: Rig
    dialect: str
    slack_api: SoakSlack
    adapter: SlackAdapter
    signing_secret: str
    users: list[SoakUser]
    plan: FaultPlan
    keys: dict[tuple[int, str], str]
    asks: int
    rss: list[tuple[int, int]] = field(default_factory=list)  # (asks done, KiB)
    done: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    last_row: int = 0
    user_ids: dict[int, int] = field(default_factory=dict)  # database user id -> index

    def user_of(self, ask: int) -> SoakUser:
        return self.users[ask % len(self.users)]

    # -- driving -----------------------------------------------------------------------

    async def ask(self, n: int) -> None:
        user = self.user_of(n)
        channel = f"C{n:05d}"
        body = urlencode(
            {
                "token": "legacy",
                "team_id": TEAM,
                "team_domain": "soak",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user.ref.user,
                "user_name": f"user{user.index}",
                "command": "/ask",
                "text": f"[ask {n}] {QUESTION}",
                "api_app_id": "A111",
                "response_url": self.slack_api.response_url(),
                "trigger_id": f"{n}.1.abc",
            }
        )
        stamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=stamp, body=body
        )
        assert signature is not None
        headers: dict[str, str | Sequence[str]] = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature,
        }
        response = await self.adapter.app.async_dispatch(
            AsyncBoltRequest(body=body, headers=headers)
        )
        assert response.status == 200, response.body
        try:
            await self.slack_api.wait_for(lambda: channel in self.slack_api.outcomes, ASK_WITHIN)
        except TimeoutError:
            pytest.fail(f"ask {n} got no answer or error in Slack within {ASK_WITHIN} s")
        self.done += 1
        if self.done % max(1, self.asks // 20) == 0:
            self.rss.append((self.done, rss_kib()))

    async def phase(self, asks: range) -> None:
        """Each user asks its share of ``asks`` one after another; users run at once."""

        async def user_asks(user: SoakUser) -> None:
            for n in asks:
                if n % len(self.users) == user.index:
                    await self.ask(n)

        await asyncio.gather(*(user_asks(u) for u in self.users))
        await self.adapter.drain()
        await self.rig.engine.ledger.flush()

    # -- checking ----------------------------------------------------------------------

    async def check_phase(self, asks: range) -> None:
        """Every ask of the phase ended as its faults call for, with one row per attempt."""
        attempts = self.plan.attempts()
        groups = await self._row_groups()
        for user in self.users:
            mine = [n for n in asks if n % len(self.users) == user.index]
            got = groups.get(user.index, [])
            assert len(got) == len(mine), (
                f"user {user.index}: {len(mine)} asks but {len(got)} groups of usage rows"
            )
            for n, rows in zip(mine, got, strict=True):
                self._check_ask(n, user, attempts.get(n, []), rows)
        self._check_keys()
        for injected in self.plan.injected:
            self.faults[injected.kind] += 1
        self.plan.injected.clear()
        self.slack_api.outcomes.clear()
        self.slack_api.forget()
        for provider in PROVIDERS:
            self.rig.fakes[provider].forget()

    async def _row_groups(self) -> dict[int, list[list[UsageEvent]]]:
        """This phase's usage rows: per user, one group per ask, in the order asked."""
        async with self.rig.engine.database.session() as session:
            if not self.user_ids:
                for user in self.users:
                    found = await get_user_id(session, user.ref)
                    assert found is not None
                    self.user_ids[found] = user.index
            rows = list(
                await session.scalars(
                    select(UsageEvent).where(UsageEvent.id > self.last_row).order_by(UsageEvent.id)
                )
            )
        if rows:
            self.last_row = rows[-1].id
        self.rows += len(rows)
        by_request: dict[str, list[UsageEvent]] = {}
        for row in rows:
            by_request.setdefault(row.request_id, []).append(row)
        groups: dict[int, list[list[UsageEvent]]] = {}
        for group in sorted(by_request.values(), key=lambda g: g[0].id):
            groups.setdefault(self.user_ids[group[0].user_ref], []).append(group)
        return groups

    def _check_ask(
        self, n: int, user: SoakUser, tried: list[Injected], rows: list[UsageEvent]
    ) -> None:
        recorded = [(r.provider, r.outcome, r.error_kind, r.latency_ms) for r in rows]
        where = f"ask {n} (user {user.index}, auto-switch {user.auto_switch}; rows {recorded})"
        assert tried, f"{where}: no provider saw it"
        assert tried[0].provider_id == user.primary, f"{where}: asked {tried[0].provider_id} first"
        falls_back = user.auto_switch and tried[0].kind in FALLBACK_KINDS
        expected = [user.primary, user.fallback] if falls_back else [user.primary]
        assert [t.provider_id for t in tried] == expected, f"{where}: attempts {tried}"
        # Exactly one usage row per attempt, in order, each finished.
        assert [r.provider for r in rows] == expected, where
        assert [r.is_fallback for r in rows] == [False, True][: len(expected)], where
        for attempt, row in zip(tried, rows, strict=True):
            self._check_row(f"{where}, {attempt.kind} at {attempt.provider_id}", attempt, row)
        # What the user saw in Slack.
        outcome, shown = self.slack_api.outcomes[f"C{n:05d}"]
        final = tried[-1]
        wanted_outcome = (
            "answer"
            if final.kind in ANSWERING_KINDS
            else "incomplete"
            if final.kind == "cut"
            else "error"
        )
        assert outcome == wanted_outcome, f"{where}: {[t.kind for t in tried]} shown as {outcome}"
        assert "Something went wrong" not in shown, f"{where}: {shown}"
        if outcome == "answer":
            assert f"{final.provider_id} · " in shown, f"{where}: footer in {shown}"
            garbage = final.kind == "garbage"
            assert ("tokens not reported" in shown) == garbage, f"{where}: footer in {shown}"
        if outcome == "error":
            for attempt in tried:
                assert attempt.provider_id in shown, f"{where}: error without the provider"
        assert (f"Answered by {user.fallback} instead" in shown) == (
            falls_back and final.kind in ANSWERING_KINDS
        ), f"{where}: {shown}"
        self.outcomes[outcome] += 1
        self.fallbacks += len(tried) - 1

    def _check_row(self, where: str, attempt: Injected, row: UsageEvent) -> None:
        """The one row of one attempt says what happened to it."""
        if attempt.kind in FALLBACK_KINDS or attempt.kind == "cut":
            assert row.outcome == "error" and row.error_kind is not None, where
            return
        if attempt.kind == "bad_row" and self.dialect == "postgresql":
            # Refused by the database; written in a form it takes, as an error that says so.
            assert (row.outcome, row.error_kind) == ("error", UNRECORDABLE), where
            assert row.model == OVERLONG_MODEL[: len(row.model)] and len(row.model) < len(
                OVERLONG_MODEL
            ), f"{where}: model {row.model!r}"
            assert row.cost is None, where
            return
        assert (row.outcome, row.error_kind) == ("success", None), where
        if attempt.kind == "bad_row":  # SQLite does not enforce a VARCHAR's length
            assert row.model == OVERLONG_MODEL, where
        elif attempt.kind == "garbage":
            # Unknown: never $0, never millions; the garbage is not recorded as tokens.
            assert row.cost is None, f"{where}: cost {row.cost}"
            assert (row.input_tokens, row.output_tokens) == (0, 0), where
        else:
            assert (row.input_tokens, row.output_tokens) == (11, 6), where
            assert row.cost is not None and row.cost > 0, f"{where}: cost {row.cost}"

    def _check_keys(self) -> None:
        """No key in any call to Slack; each provider request carried its user's key."""
        for request in self.slack_api.requests:
            sent = request.url + request.body.decode("utf-8", "replace")
            sent += "".join(request.headers.values())
            assert "canary" not in sent, f"a key was sent to Slack: {request.path}"
        for provider in PROVIDERS:
            fake = self.rig.fakes[provider]
            for request in fake.requests:
                found = ASK_ID.search(request.body) if request.method == "POST" else None
                if found is not None:
                    owner = self.user_of(int(found.group(1)))
                    assert fake.key_of(request) == self.keys[(owner.index, provider)]


#: What the fakes and this test keep is not the bot's (the only servers here are fakes).
_NOT_THE_FAKES = [
    tracemalloc.Filter(False, "*/tests/*", all_frames=True),
    tracemalloc.Filter(False, "*/aiohttp/web_*", all_frames=True),
    tracemalloc.Filter(False, tracemalloc.__file__),
]


def _traced_top(snapshot: tracemalloc.Snapshot) -> str:
    stats = snapshot.statistics("traceback")[:8]
    return "\n".join(
        f"{s.size / 1024:.0f} KiB\n  " + "\n  ".join(s.traceback.format()) for s in stats
    )


async def test_asks_under_provider_faults_end_well_and_leave_nothing_behind(
    make_rig: MakeRig, database: Database
) -> None:
    dialect = database.dialect
    if ONLY_DATABASE not in (None, dialect):
        pytest.skip(f"BYOK_SOAK_DB={ONLY_DATABASE}")
    asks = ASKS[dialect]
    started = time.perf_counter()
    bot_token = "xoxb-" + secrets.token_hex(12)
    signing_secret = secrets.token_hex(16)
    with watching_logs([bot_token, signing_secret]) as logs:
        rig = await make_rig(database, timeout_s=TIMEOUT_S, max_retries=0)
        users = soak_users(USERS)
        keys: dict[tuple[int, str], str] = {}
        for user in users:
            service = BYOKService(rig.engine, user.ref)
            for provider in (user.primary, user.fallback):
                fake = rig.fakes[provider]
                keys[(user.index, provider)] = fake.add_key(
                    fake.key_prefix + "canary" + secrets.token_hex(16)
                )
                await service.add_key(provider, keys[(user.index, provider)])
            await service.set_preferences(
                default_provider=user.primary,
                fallback_provider=user.fallback if user.auto_switch else None,
                auto_switch_provider=user.auto_switch,
            )
        plan = FaultPlan(SEED)
        for provider in PROVIDERS:
            rig.fakes[provider].set_fault_policy(plan.policy(rig.fakes[provider]))
            rig.fakes[provider].reply_policy = plan.replies(rig.fakes[provider])

        async with SoakSlack() as slack_api:
            adapter = SlackAdapter(
                Dispatcher(BotContext(rig.engine)),
                SlackSettings(
                    enabled=True,
                    mode="http",
                    bot_token=SecretStr(bot_token),
                    signing_secret=SecretStr(signing_secret),
                    api_url=slack_api.api_url,
                ),
                options=SlackOptions(),  # production edit pacing
                process_before_response=True,
            )
            soak = Soak(rig, dialect, slack_api, adapter, signing_secret, users, plan, keys, asks)
            try:
                half = asks // 2
                await soak.phase(range(half))
                await soak.check_phase(range(half))
                gc.collect()
                rss_half = rss_kib()
                tracemalloc.start(12)
                try:
                    await soak.phase(range(half, asks))
                    await soak.check_phase(range(half, asks))
                    gc.collect()
                    snapshot = tracemalloc.take_snapshot()
                    everything = sum(s.size for s in snapshot.statistics("filename"))
                    snapshot = snapshot.filter_traces(_NOT_THE_FAKES)
                    grown = sum(s.size for s in snapshot.statistics("filename"))
                finally:
                    tracemalloc.stop()
                rss_end = rss_kib()
            finally:
                await adapter.stop(grace_s=10)

    second_half = asks - half
    summary = {
        "asks": asks,
        "users": USERS,
        "seed": SEED,
        "database": dialect,
        "seconds": round(time.perf_counter() - started, 1),
        "outcomes": dict(soak.outcomes),
        "fallbacks": soak.fallbacks,
        "faults injected": dict(soak.faults),
        "usage rows": soak.rows,
        "log records checked": logs.records,
        "WARNINGs: implausible usage / refused rows": (logs.implausible_usage, logs.refused_rows),
        "RSS KiB at half / end": (rss_half, rss_end),
        "RSS KiB samples (asks done, KiB)": soak.rss,
        "retained over the second half (tracemalloc), all": f"{everything / 1024:.0f} KiB",
        "... of which outside the fakes and this test": f"{grown / 1024:.0f} KiB, "
        f"{grown / second_half:.0f} B per ask",
    }
    print("\nsoak summary:", *(f"  {k}: {v}" for k, v in summary.items()), sep="\n")
    print("  retained over the second half outside the fakes, biggest sites:")
    for stat in snapshot.statistics("lineno")[:8]:
        print(f"    {stat.size / 1024:7.1f} KiB {stat.count:6d} blocks  {stat.traceback[0]}")

    assert sum(soak.outcomes.values()) == asks
    assert soak.rows == sum(soak.faults.values()), "one usage row per attempt"
    assert not logs.leaks, "a key in the logs:\n" + "\n".join(logs.leaks[:5])
    assert not logs.failures, "errors logged:\n" + "\n".join(logs.failures[:5])
    # One WARNING per garbage usage, and per row the database refused (PostgreSQL only).
    assert logs.implausible_usage == soak.faults["garbage"]
    refused = soak.faults["bad_row"] if dialect == "postgresql" else 0
    assert logs.refused_rows == refused
    # The run exercised what it claims to.
    assert soak.fallbacks > 0
    kinds = {"http_500", "timeout", "rate_limited", "cut", "garbage", "bad_row", "none"}
    assert kinds <= set(soak.faults)
    assert {"answer", "incomplete", "error"} <= set(soak.outcomes)
    assert grown <= GROWTH_FIXED + GROWTH_PER_ASK * second_half, (
        f"{grown / 1024:.0f} KiB retained over {second_half} asks; biggest:\n"
        + _traced_top(snapshot)
    )
