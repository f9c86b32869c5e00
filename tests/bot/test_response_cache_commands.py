"""The response cache as users meet it: /byok prefs cache, /ask --fresh, the footer, /usage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.commands.ask import ASK_FLAGS, ASK_USAGE
from bot.grammar import CommandError, parse_flags
from tests.bot.conftest import Chat

QUESTION = "/ask What is the capital of Australia?"


def posts(chat: Chat, provider: str = "openai") -> int:
    return sum(1 for r in chat.rig.fakes[provider].requests if r.method == "POST")


async def test_cache_on_answers_again_from_the_cache_with_its_age_and_saving(chat: Chat) -> None:
    await chat.add_key("openai")
    turned = await chat.say("/byok prefs cache on")
    assert turned.reply.tone == "success" and "`cache` is now on" in turned.text
    chat.rig.fakes["openai"].reply(text="Canberra.", input_tokens=1200, output_tokens=300)
    first = await chat.say(QUESTION)
    assert "cached" not in (first.reply.footer or "")
    chat.rig.clock.now += timedelta(hours=3, minutes=5)
    second = await chat.say(QUESTION)
    assert second.streamed == "Canberra." and second.reply.text == "Canberra."
    footer = second.reply.footer or ""
    assert footer.startswith("openai · gpt-5.6-terra · cached · from 3 h ago · saved $0.")
    assert "--fresh" in footer and "$0.00 " not in footer
    assert posts(chat) == 1


async def test_fresh_asks_the_provider_again(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok prefs cache on")
    chat.rig.fakes["openai"].reply(text="old")
    chat.rig.fakes["openai"].reply(text="new")
    await chat.say(QUESTION)
    fresh = await chat.say("/ask --fresh What is the capital of Australia?")
    assert fresh.reply.text == "new" and posts(chat) == 2
    at_the_end = await chat.say("/ask What is the capital of Australia? --fresh")
    assert posts(chat) == 3 and "cached" not in (at_the_end.reply.footer or "")
    cached = await chat.say(QUESTION)
    assert "cached" in (cached.reply.footer or "") and posts(chat) == 3


async def test_an_unknown_saving_reads_unknown_never_zero(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok prefs cache on")
    chat.rig.fakes["openai"].models.append("gpt-99-unreleased")
    await chat.say("/ask --model gpt-99-unreleased hello")
    said = await chat.say("/ask --model gpt-99-unreleased hello")
    footer = said.reply.footer or ""
    assert "cached" in footer and "saved unknown" in footer and "$0.00" not in footer
    usage = await chat.say("/usage")
    assert "saved an unknown amount by 1 cached answer" in usage.text


async def test_usage_shows_the_money_saved_by_cached_answers(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok prefs cache on")
    chat.rig.fakes["openai"].reply(text="Canberra.", input_tokens=100_000, output_tokens=1000)
    await chat.say(QUESTION)
    await chat.say(QUESTION)
    await chat.say(QUESTION)
    said = await chat.say("/usage")
    assert "3 questions · 1 attempt · 2 from your cache" in said.text
    assert "by 2 cached answers" in said.text and "You saved $" in said.text
    assert "2 from your cache" in said.text


async def test_prefs_list_cache_and_its_ttl_and_clear_deletes(chat: Chat) -> None:
    await chat.add_key("openai")
    shown = await chat.say("/byok prefs")
    assert "cache" in shown.text and "cache-ttl" in shown.text
    await chat.say("/byok prefs cache on")
    ttl = await chat.say("/byok prefs cache-ttl 6h")
    assert "`cache-ttl` is now 6 h" in ttl.text
    await chat.say(QUESTION)
    cleared = await chat.say("/byok prefs cache clear")
    assert "Deleted 1 cached answer." in cleared.text
    await chat.say(QUESTION)
    assert posts(chat) == 2
    off = await chat.say("/byok prefs cache off")
    assert "cached answers were deleted" in off.text
    bad = await chat.say("/byok prefs cache-ttl forever")
    assert bad.reply.tone == "error" and "30m" in bad.text
    short = await chat.say("/byok prefs cache-ttl 10s")
    assert short.reply.tone == "error" and "between 1 minute" in short.text


def test_fresh_is_a_switch_that_takes_no_value() -> None:
    parsed = parse_flags("--fresh --provider openai why?", ASK_FLAGS, usage=ASK_USAGE)
    assert parsed.flags == {"fresh": True, "provider": "openai"} and parsed.text == "why?"
    parsed = parse_flags("why is the sky blue? --fresh", ASK_FLAGS, usage=ASK_USAGE)
    assert parsed.flags == {"fresh": True} and parsed.text == "why is the sky blue?"
    with pytest.raises(CommandError, match="takes no value"):
        parse_flags("--fresh=yes why?", ASK_FLAGS, usage=ASK_USAGE)
