"""The saving from a provider's prompt cache is visible on the reply that had it.

claude-sonnet-4-6 costs $3 per million input tokens, $0.30 per million read from the
cache, $3.75 per million written to it and $15 per million output (genai-prices). 1,200
input tokens of which 1,000 were read and 50 written, and 80 output, cost $0.0021375
(shown $0.00214); the 1,000 read would have cost $0.0027 more at the full input price.
"""

from __future__ import annotations

import json

from tests.bot.conftest import Chat
from tests.bot.test_summarize import SUMMARY

CACHED_FOOTER = (
    "anthropic · claude-sonnet-4-6 · 1,200 in (1,000 cached) / 80 out tokens"
    " · $0.00214 (saved $0.0027)"
)


async def test_ask_footer_shows_cached_tokens_and_the_saving(chat: Chat) -> None:
    await chat.add_key("anthropic")
    chat.rig.fakes["anthropic"].reply(
        text="Yes.", input_tokens=1200, output_tokens=80, cached_tokens=1000, cache_write_tokens=50
    )

    said = await chat.say("/ask is the design doc settled?")

    assert said.reply.footer == CACHED_FOOTER


async def test_footer_without_cached_input_is_unchanged(chat: Chat) -> None:
    await chat.add_key("anthropic")
    chat.rig.fakes["anthropic"].reply(text="Yes.", input_tokens=1200, output_tokens=80)

    said = await chat.say("/ask is the design doc settled?")

    assert said.reply.footer == (
        "anthropic · claude-sonnet-4-6 · 1,200 in / 80 out tokens · $0.0048"
    )


async def test_no_saving_is_claimed_when_the_cache_price_is_unknown(chat: Chat) -> None:
    await chat.add_key("openai")
    fake = chat.rig.fakes["openai"]
    fake.models.append("gpt-5-pro")  # genai-prices lists no cache price for it
    fake.reply(text="Yes.", input_tokens=3000, output_tokens=10, cached_tokens=2048)

    said = await chat.say("/ask --model gpt-5-pro is the design doc settled?")

    assert said.reply.footer == (
        "openai · gpt-5-pro · 3,000 in (2,048 cached) / 10 out tokens · cost unknown"
    )


async def test_summary_footer_adds_up_cached_tokens_and_savings(chat: Chat) -> None:
    await chat.add_key("anthropic")
    chat.rig.fakes["anthropic"].reply(
        text=json.dumps(SUMMARY),
        input_tokens=1200,
        output_tokens=80,
        cached_tokens=1000,
        cache_write_tokens=50,
    )

    said = await chat.say("/summarize Alice: We ship Friday. Bob: Docs by Thursday.")

    assert (said.reply.footer or "").endswith(
        "1 call · 1,200 in (1,000 cached) / 80 out tokens · $0.00214 (saved $0.0027)"
    )
