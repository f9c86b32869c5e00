"""/summarize and the response cache: a transcript summarised again comes from the cache.

Only when the user turned the cache on; the footer then says so and what it saved, never
$0.00 for an unknown saving; ``--fresh`` asks again. Each map-reduce part is an entry of
its own with a usage row of its own, and the savings add up to what the first run cost.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from bot.commands.summarize import SUMMARIZE_USAGE
from bot.formatting import money
from tests.bot.conftest import Chat
from tests.bot.test_summarize import SUMMARY, script_summaries

MEETING = "/summarize Alice: We ship Friday. Bob: I will update the docs by Thursday."


def posts(chat: Chat, provider: str = "openai") -> int:
    return sum(1 for r in chat.rig.fakes[provider].requests if r.method == "POST")


def long_meeting(word: str = "Point") -> str:
    return "\n".join(
        f"{'Alice' if n % 2 else 'Bob'}: {word if n == 79 else 'Point'} {n} about the "
        "migration plan, " + "detail " * 20
        for n in range(80)
    )


def script_distinct(chat: Chat, count: int, start: int = 0) -> None:
    """Replies that differ from each other, so that a merge's input names its parts."""
    for n in range(start, start + count):
        reply = json.dumps({**SUMMARY, "overview": f"Summary number {n}."})
        chat.rig.fakes["openai"].reply(text=reply, input_tokens=900, output_tokens=120)


async def test_a_summary_asked_again_comes_from_the_cache_and_says_so(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok prefs cache on")
    script_summaries(chat, "openai", 2)
    first = await chat.say(MEETING)
    assert "cached" not in (first.reply.footer or "")
    chat.rig.clock.now += timedelta(hours=2)

    again = await chat.say(MEETING)

    assert posts(chat) == 1 and again.reply.sections == first.reply.sections
    [original] = [r for r in await chat.rig.usage_rows() if r["outcome"] == "success"]
    assert again.reply.footer == (
        f"openai · gpt-5.6-terra · cached · from 2 h ago · saved {money(original['cost'])} · "
        "--fresh to ask again"
    )
    rows = await chat.rig.usage_rows()
    assert [(r["outcome"], r["request_kind"]) for r in rows] == [
        ("success", "summary"),
        ("cached", "summary"),
    ]
    assert rows[1]["cost"] == 0 and rows[1]["saved_cost"] == original["cost"]

    fresh = await chat.say(MEETING.replace("/summarize", "/summarize --fresh"))
    assert posts(chat) == 2 and "cached" not in (fresh.reply.footer or "")
    assert (fresh.reply.footer or "").startswith("openai · gpt-5.6-terra · 1 call · ")
    assert "[--fresh]" in SUMMARIZE_USAGE


async def test_without_the_cache_on_a_summary_is_asked_again(chat: Chat) -> None:
    await chat.add_key("openai")
    script_summaries(chat, "openai", 2)
    await chat.say(MEETING)
    again = await chat.say(MEETING)
    assert posts(chat) == 2 and "cached" not in (again.reply.footer or "")
    assert {r["outcome"] for r in await chat.rig.usage_rows()} == {"success"}


async def test_each_part_is_its_own_entry_and_the_savings_add_up(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok prefs cache on")
    script_distinct(chat, 30)
    first = await chat.say(f"/summarize {long_meeting()}")
    calls = posts(chat)
    parts = len([s for s in first.statuses if s.startswith("Summarising part")])
    assert parts >= 3 and calls >= parts + 1  # every part, then the merge
    spent = sum((r["cost"] for r in await chat.rig.usage_rows()), Decimal(0))
    assert spent > 0

    # The same transcript: every part and the merge come from the cache.
    again = await chat.say(f"/summarize {long_meeting()}")
    assert posts(chat) == calls and again.reply.sections == first.reply.sections
    assert again.reply.footer == (
        f"openai · gpt-5.6-terra · {parts} parts, cached ({calls} answers) · just now · "
        f"saved {money(spent)} · --fresh to ask again"
    )
    rows = await chat.rig.usage_rows()
    hits = [r for r in rows if r["outcome"] == "cached"]
    assert len(hits) == calls and len({r["request_id"] for r in hits}) == calls
    assert sum((r["saved_cost"] for r in hits), Decimal(0)) == spent
    assert all(r["cost"] == 0 and r["input_tokens"] == 0 for r in hits)

    # One part changed (same length, so the split is the same): that part and the merge
    # are asked; the other parts come from the cache.
    changed = await chat.say(f"/summarize {long_meeting('Issue')}")
    assert posts(chat) == calls + 2
    footer = changed.reply.footer or ""
    assert f"{parts} parts, 2 calls · " in footer
    assert f" · {calls - 2} cached, just now, saved $" in footer
    assert footer.endswith(" · --fresh to ask again")

    usage = await chat.say("/usage")
    assert f"{2 * calls - 2:,} from your cache" in usage.text
    saved = sum(
        (r["saved_cost"] for r in await chat.rig.usage_rows() if r["saved_cost"]), Decimal(0)
    )
    assert f"You saved {money(saved)} by {2 * calls - 2} cached answers." in usage.text


async def test_a_cached_summary_of_unknown_cost_reads_saved_unknown(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok prefs cache on")
    chat.rig.fakes["openai"].models.append("gpt-99-unreleased")
    script_summaries(chat, "openai", 1)
    line = MEETING.replace("/summarize", "/summarize --model gpt-99-unreleased")
    await chat.say(line)
    again = await chat.say(line)
    assert posts(chat) == 1
    assert again.reply.footer == (
        "openai · gpt-99-unreleased · cached · just now · saved unknown · --fresh to ask again"
    )
