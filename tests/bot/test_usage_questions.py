"""/usage tells questions apart from the attempts at providers behind them."""

from __future__ import annotations

from bot.formatting import money
from tests.bot.conftest import Chat
from tests.fakes.loopback import Fault


async def test_usage_counts_a_question_answered_after_a_fallback_once(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.add_key("anthropic")
    await chat.say("/byok default openai")
    await chat.say("/byok fallback anthropic")
    chat.rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    first = await chat.say("/ask one")
    assert (first.reply.footer or "").startswith("anthropic")
    await chat.say("/ask two")
    said = await chat.say("/usage")
    report = await chat.rig.service().usage_report("month")
    assert said.reply.text == (
        "2 questions · 3 attempts (1 fallback, 1 failed) in November 2026 so far, "
        f"{money(report.cost)} in total."
    )
    assert report.cost > 0 and report.questions == 2


async def test_usage_with_nothing_asked_says_no_questions(chat: Chat) -> None:
    said = await chat.say("/usage week")
    assert said.reply.text.startswith("No questions this week (since ")
