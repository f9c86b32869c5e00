"""The digest's numbers from SQL equal what the test computes from the seeded rows itself."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal

from byok.db import Database
from byok.digest_data import (
    DailyCost,
    DigestWindow,
    FailureCount,
    KeySpend,
    ProviderWeek,
    load_daily_costs,
    load_digest_data,
)
from byok.types import UserRef
from byok.usage import UsageLine
from tests.digest.conftest import (
    ALICE,
    BERLIN,
    BOB,
    CAROL,
    CHART_WEEKS,
    DAVE,
    ERIN,
    PERIOD,
    SEND_AT,
    Seeder,
    Use,
    berlin,
)

WINDOW = DigestWindow(PERIOD, BERLIN, CHART_WEEKS, SEND_AT)
LIMITS = {(ALICE, "openai"): Decimal("0.50"), (ALICE, "anthropic"): None,
          (ALICE, "google"): Decimal("10"), (DAVE, "openai"): Decimal("5")}  # fmt: skip


def local_day(use: Use) -> date:
    return use.at.astimezone(BERLIN).date()


def in_week(use: Use, first: date) -> bool:
    return first <= local_day(use) < first + timedelta(days=7) and use.outcome != "pending"


def expected_week(uses: list[Use], user: UserRef) -> list[UsageLine]:
    lines: dict[tuple[str, str], list[Use]] = defaultdict(list)
    for use in uses:
        if use.user == user and in_week(use, PERIOD):
            lines[use.provider, use.model].append(use)
    return [
        UsageLine(
            provider,
            model,
            len(group),
            sum(u.outcome != "success" for u in group),
            sum(u.fallback for u in group),
            sum(u.tokens_in for u in group),
            sum(u.tokens_out for u in group),
            sum((u.cost for u in group if u.cost is not None), Decimal(0)),
            sum(u.outcome == "success" and u.cost is None for u in group),
        )
        for (provider, model), group in sorted(lines.items())
    ]


def expected_previous(uses: list[Use], user: UserRef) -> list[ProviderWeek]:
    groups: dict[str, list[Use]] = defaultdict(list)
    for use in uses:
        if use.user == user and in_week(use, PERIOD - timedelta(days=7)):
            groups[use.provider].append(use)
    return [
        ProviderWeek(
            provider,
            len(g),
            sum(u.tokens_in for u in g),
            sum(u.tokens_out for u in g),
            sum((u.cost for u in g if u.cost is not None), Decimal(0)),
            sum(u.outcome == "success" and u.cost is None for u in g),
        )
        for provider, g in sorted(groups.items())
    ]


def expected_failures(uses: list[Use], user: UserRef) -> list[FailureCount]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for use in uses:
        if use.user == user and in_week(use, PERIOD) and use.outcome in ("error", "cancelled"):
            kind = "cancelled" if use.outcome == "cancelled" else use.error_kind or "error"
            counts[use.provider, kind] += 1
    return [FailureCount(p, k, n) for (p, k), n in sorted(counts.items())]


def expected_keys(uses: list[Use], user: UserRef) -> list[KeySpend]:
    as_of = SEND_AT.astimezone(UTC)
    spent: dict[str, Decimal] = defaultdict(Decimal)
    unpriced: dict[str, int] = defaultdict(int)
    for use in uses:
        at = use.at.astimezone(UTC)
        if (
            use.user == user
            and use.key_source == "user"
            and (at.year, at.month) == (as_of.year, as_of.month)
        ):
            spent[use.provider] += use.cost if use.cost is not None else use.reserved or Decimal(0)
            if use.outcome == "success" and use.cost is None and use.reserved is None:
                unpriced[use.provider] += 1
    return [
        KeySpend(provider, spent[provider], limit, unpriced[provider])
        for (who, provider), limit in sorted(LIMITS.items(), key=lambda kv: kv[0][1])
        if who == user
    ]


def expected_daily(uses: list[Use], user: UserRef) -> list[DailyCost]:
    first = PERIOD + timedelta(days=7) - timedelta(days=7 * CHART_WEEKS)
    cost: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    unpriced: dict[tuple[date, str], int] = defaultdict(int)
    for use in uses:
        day = local_day(use)
        if (
            use.user == user
            and use.outcome != "pending"
            and first <= day < PERIOD + timedelta(days=7)
        ):
            cost[day, use.provider] += use.cost or Decimal(0)
            unpriced[day, use.provider] += use.outcome == "success" and use.cost is None
    return [DailyCost(day, p, cost[day, p], unpriced[day, p]) for day, p in sorted(cost)]


async def test_every_number_matches_the_seeded_rows(database: Database, seeder: Seeder) -> None:
    data = await load_digest_data(database, WINDOW)
    ids = seeder.ids
    # Carol used it only the week before, Erin turned it off: neither gets a digest.
    assert set(data) == {ids[ALICE], ids[BOB], ids[DAVE]}
    for user in (ALICE, BOB, DAVE):
        got = data[ids[user]]
        assert got.user == user
        assert got.week == expected_week(seeder.uses, user)
        assert got.previous == expected_previous(seeder.uses, user)
        assert got.failures == expected_failures(seeder.uses, user)
        assert got.keys == expected_keys(seeder.uses, user)
    daily = await load_daily_costs(database, WINDOW, list(data))
    for user in (ALICE, BOB):
        assert daily[ids[user]] == expected_daily(seeder.uses, user)
    assert ids[DAVE] not in daily


async def test_the_numbers_written_out(database: Database, seeder: Seeder) -> None:
    """The same facts as plain literals, so a shared mistake cannot hide."""
    alice = (await load_digest_data(database, WINDOW))[seeder.ids[ALICE]]
    by_model = {(line.provider_id, line.model): line for line in alice.week}
    gpt5 = by_model["openai", "gpt-5"]
    # 3 user-key successes, 2 rate-limited, 1 operator-key success; edge rows excluded.
    assert (gpt5.requests, gpt5.failures, gpt5.input_tokens, gpt5.output_tokens) == (
        6,
        2,
        15310,
        2410,
    )
    assert gpt5.cost == Decimal("0.362345678") and gpt5.unpriced == 0
    mini = by_model["openai", "gpt-5-mini"]
    assert (mini.requests, mini.cost, mini.unpriced) == (2, Decimal(0), 2)  # unknown, not free
    sonnet = by_model["anthropic", "claude-sonnet-4-6"]
    assert (sonnet.requests, sonnet.failures, sonnet.fallbacks, sonnet.cost) == (
        3,
        1,
        1,
        Decimal("0.10"),
    )
    assert by_model["google", "gemini-2.5-pro"].requests == 1  # the pending one is not a request
    assert [(p.provider_id, p.requests, p.cost, p.unpriced) for p in alice.previous] == [
        ("anthropic", 1, Decimal(0), 1), ("openai", 2, Decimal("0.19"), 0),
    ]  # fmt: skip
    assert alice.failures == [FailureCount("anthropic", "cancelled", 1),
                              FailureCount("google", "error", 1),
                              FailureCount("openai", "rate_limited", 2)]  # fmt: skip
    # Month to date counts reservations (cancelled 0.04, pending 0.25), not the operator key.
    assert alice.keys == [
        KeySpend("anthropic", Decimal("0.14"), None, unpriced=1),
        KeySpend("google", Decimal("0.85"), Decimal("10")),
        KeySpend("openai", Decimal("9.592345678"), Decimal("0.50"), unpriced=2),
    ]


async def test_chart_days_are_local_days_across_the_end_of_summer_time(
    database: Database, seeder: Seeder
) -> None:
    daily = await load_daily_costs(database, WINDOW, [seeder.ids[ALICE]])
    october = {
        (p.day, p.provider_id): p.cost for p in daily[seeder.ids[ALICE]] if p.day.month == 10
    }
    assert october == {
        (date(2026, 10, 19), "anthropic"): Decimal("0.5"),  # 00:05 CEST is 22:05 UTC the day before
        (date(2026, 10, 24), "openai"): Decimal("0.01"),
        (date(2026, 10, 25), "openai"): Decimal("0.06"),  # 00:30 CEST and 23:30 CET
    }


async def test_one_user_only(database: Database, seeder: Seeder) -> None:
    only = await load_digest_data(database, WINDOW, users=[seeder.ids[BOB], seeder.ids[ERIN]])
    assert list(only) == [seeder.ids[BOB]]  # Erin is still opted out
    assert only[seeder.ids[BOB]].week == expected_week(seeder.uses, BOB)
    assert only[seeder.ids[BOB]].keys == []


async def test_empty_and_opt_out_rules(database: Database, seeder: Seeder) -> None:
    data = await load_digest_data(database, WINDOW)
    dave = data[seeder.ids[DAVE]]
    assert dave.digest_when_empty and not dave.has_usage and dave.week == []
    assert dave.keys == [KeySpend("openai", Decimal(0), Decimal("5"))]
    assert seeder.ids[CAROL] not in data and seeder.ids[ERIN] not in data


async def test_a_week_with_nothing_at_all(database: Database, seeder: Seeder) -> None:
    window = DigestWindow(date(2025, 1, 6), BERLIN, 4, berlin(13, month=1).replace(year=2025))
    data = await load_digest_data(database, window)
    assert list(data) == [seeder.ids[DAVE]]
