"""The digest as the user reads it: each section's numbers, the empty digest, the chart."""

from __future__ import annotations

import io
from datetime import date

from PIL import Image

from bot.digest.message import build_digest, week_label
from bot.provider_names import ProviderNames
from bot.reply import Reply
from byok.digest_data import DigestWindow, load_daily_costs, load_digest_data
from byok.types import UserRef
from tests.digest.conftest import ALICE, BERLIN, BOB, CHART_WEEKS, DAVE, PERIOD, SEND_AT, Seeder

WINDOW = DigestWindow(PERIOD, BERLIN, CHART_WEEKS, SEND_AT)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def digest_of(seeder: Seeder, user: UserRef) -> Reply:
    database, ref = seeder.database, seeder.ids[user]
    data = (await load_digest_data(database, WINDOW, users=[ref]))[ref]
    data.daily = (await load_daily_costs(database, WINDOW, [ref])).get(ref, [])
    return await build_digest(data, WINDOW, ProviderNames.builtin())


def section(reply: Reply, title_start: str) -> list[str]:
    [found] = [s for s in reply.sections if (s.title or "").startswith(title_start)]
    return [f"{f.label}: {f.value}" for f in found.fields] + list(found.bullets)


async def test_alices_digest_section_by_section(sqlite_seeder: Seeder) -> None:
    reply = await digest_of(sqlite_seeder, ALICE)
    assert reply.title == "Your week with byok-bot: Mon 16 – Sun 22 Nov 2026"
    assert reply.private
    assert reply.text == (
        "12 requests · 19,110 in / 3,030 out tokens · $0.462 + 2 requests of unknown cost."
    )
    titles = [s.title for s in reply.sections]
    assert titles == [
        "Anthropic — 3 requests, $0.10",
        "Google Gemini — 1 request, $0.00",
        "OpenAI — 8 requests, $0.362 + 2 requests of unknown cost",
        "Compared with the week before",
        "Month to date (November 2026, your keys)",
        "Failures and fallbacks",
    ]
    assert section(reply, "OpenAI") == [
        "gpt-5: 6 requests, 15,310 in / 2,410 out tokens, $0.362 (2 failed)",
        "gpt-5-mini: 2 requests, 1,000 in / 100 out tokens, cost unknown",
    ]
    assert section(reply, "Anthropic") == [
        "claude-sonnet-4-6: 3 requests, 2,800 in / 520 out tokens, $0.10 (1 failed, 1 as fallback)"
    ]
    assert section(reply, "Compared") == [
        "Requests: 12 (was 3, +9, +300%)",
        "Tokens: 22,140 (was 3,995, +18,145, +454%)",
        "Cost: $0.462 (was $0.19, +$0.272, +143%)",
        "Anthropic: $0.10 (was unknown)",
        "OpenAI: $0.362 (was $0.19, +$0.172, +91%)",
        "Costs compare priced requests only.",
    ]
    assert section(reply, "Month to date") == [
        "Anthropic: $0.14 + 1 request of unknown cost, no monthly limit",
        "Google Gemini: $0.85 of $10.00 (8%)",
        "OpenAI: $9.59 of $0.50 (1918%) + 2 requests of unknown cost — limit reached",
    ]
    assert section(reply, "Failures") == [
        "4 of 12 requests failed: Anthropic cancelled ×1, Google Gemini error ×1, OpenAI rate limited ×2.",
        "1 answer came from a fallback provider.",
    ]
    assert "/byok prefs digest off" in (reply.footer or "")


async def test_the_chart_is_a_real_png(sqlite_seeder: Seeder) -> None:
    reply = await digest_of(sqlite_seeder, ALICE)
    [chart] = reply.files
    assert chart.filename == "byok-usage-2026-11-16.png" and chart.mime == "image/png"
    assert chart.title == "Daily cost by provider, last 5 weeks"
    assert chart.content.startswith(PNG_SIGNATURE) and len(chart.content) > 10_000
    image = Image.open(io.BytesIO(chart.content))
    image.verify()
    # Two panels: cost, then Alice's requests of unknown cost (gpt-5-mini, claude-haiku).
    assert image.format == "PNG" and image.size == (800, 490)


async def test_a_small_week_without_a_week_before(sqlite_seeder: Seeder) -> None:
    reply = await digest_of(sqlite_seeder, BOB)
    assert reply.text == "2 requests · 400 in / 150 out tokens · $0.04."
    assert [s.title for s in reply.sections] == [
        "xAI Grok — 2 requests, $0.04", "Compared with the week before", "Failures and fallbacks",
    ]  # fmt: skip
    assert section(reply, "xAI Grok") == ["grok-4: 2 requests, 400 in / 150 out tokens, $0.04"]
    assert reply.sections[1].text == "No requests the week before."
    assert section(reply, "Failures") == ["No failed requests and no fallbacks."]
    assert len(reply.files) == 1


async def test_the_empty_digest_someone_asked_for(sqlite_seeder: Seeder) -> None:
    reply = await digest_of(sqlite_seeder, DAVE)
    assert reply.text == "No requests this week."
    assert [s.title for s in reply.sections] == ["Month to date (November 2026, your keys)"]
    assert section(reply, "Month to date") == ["OpenAI: $0.00 of $5.00 (0%)"]
    assert reply.files == ()  # nothing to draw


def test_week_labels() -> None:
    assert week_label(date(2026, 11, 16)) == "Mon 16 – Sun 22 Nov 2026"
    assert week_label(date(2026, 11, 30)) == "Mon 30 Nov – Sun 6 Dec 2026"
    assert week_label(date(2026, 12, 28)) == "Mon 28 Dec 2026 – Sun 3 Jan 2027"
