"""Money in the digest for a user none of whose prices are known, and one paying sub-cent
amounts: every figure says "unknown" or keeps its digits, never $0.00 for an unknown price."""

from __future__ import annotations

import io

from PIL import Image

from bot.digest.message import build_digest
from bot.provider_names import ProviderNames
from bot.reply import Reply
from byok.db import Database
from byok.digest_data import DigestWindow, load_daily_costs, load_digest_data
from byok.types import UserRef
from byok.vault import Keyring
from tests.digest.conftest import BERLIN, CHART_WEEKS, PERIOD, SEND_AT, Seeder, Use, berlin, d

WINDOW = DigestWindow(PERIOD, BERLIN, CHART_WEEKS, SEND_AT)
FRANK = UserRef("slack", "T1", "U6")


async def digest_of(seeder: Seeder, user: UserRef) -> Reply:
    database, ref = seeder.database, seeder.ids[user]
    data = (await load_digest_data(database, WINDOW, users=[ref]))[ref]
    data.daily = (await load_daily_costs(database, WINDOW, [ref])).get(ref, [])
    return await build_digest(data, WINDOW, ProviderNames.builtin())


def lines(reply: Reply, title_start: str) -> list[str]:
    [found] = [s for s in reply.sections if (s.title or "").startswith(title_start)]
    return [f"{f.label}: {f.value}" for f in found.fields] + list(found.bullets)


async def test_a_week_whose_every_price_is_unknown(
    sqlite_database: Database, keyring: Keyring
) -> None:
    seeder = Seeder(sqlite_database, keyring)
    await seeder.user(FRANK)
    await seeder.key(FRANK, "xai", "5")
    await seeder.key(FRANK, "openrouter", None)
    await seeder.usage(
        Use(FRANK, "xai", "grok-9", berlin(17), tokens_in=100, tokens_out=10),
        Use(FRANK, "xai", "grok-9", berlin(18), tokens_in=200, tokens_out=20),
        Use(FRANK, "openrouter", "some/model", berlin(10), tokens_in=50, tokens_out=5),
    )
    reply = await digest_of(seeder, FRANK)
    assert reply.text == "2 requests · 300 in / 30 out tokens · cost unknown."
    assert reply.sections[0].title == "xAI Grok — 2 requests, cost unknown"
    assert lines(reply, "xAI Grok") == ["grok-9: 2 requests, 300 in / 30 out tokens, cost unknown"]
    assert lines(reply, "Compared") == [
        "Requests: 2 (was 1, +1, +100%)",
        "Tokens: 330 (was 55, +275, +500%)",
        "Cost: unknown (was unknown)",
        "OpenRouter: $0.00 (was unknown)",
        "xAI Grok: unknown (none the week before)",
        "Costs compare priced requests only.",
    ]
    assert lines(reply, "Month to date") == [
        "OpenRouter: unknown, no monthly limit",
        "xAI Grok: unknown (2 requests of unknown cost), limit $5.00",
    ]
    assert "$0.00" not in "\n".join(lines(reply, "Month to date"))
    [chart] = reply.files  # a chart of requests of unknown cost only
    assert Image.open(io.BytesIO(chart.content)).size == (800, 360)


async def test_sub_cent_costs_keep_their_digits(
    sqlite_database: Database, keyring: Keyring
) -> None:
    seeder = Seeder(sqlite_database, keyring)
    await seeder.user(FRANK)
    await seeder.key(FRANK, "openai", "0.50")
    await seeder.usage(
        Use(FRANK, "openai", "gpt-5-nano", berlin(17), d("0.00042"), tokens_in=900, tokens_out=80),
        Use(FRANK, "openai", "gpt-5-nano", berlin(19), d("0.0119"), tokens_in=9000, tokens_out=800),
    )
    reply = await digest_of(seeder, FRANK)
    assert reply.text == "2 requests · 9,900 in / 880 out tokens · $0.0123."
    assert lines(reply, "OpenAI") == ["gpt-5-nano: 2 requests, 9,900 in / 880 out tokens, $0.0123"]
    assert lines(reply, "Month to date") == ["OpenAI: $0.0123 of $0.50 (2%)"]
