"""Spend notices on the console, which has no DMs: every reply that brought one due shows
it — an answer, a refusal by the limit (its 100% notice), and a meeting summary — with
the figure reached, not the threshold crossed.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.bot.test_console import FIXTURES, console, write_config
from tests.fakes.plugin import FakeProviders

pytestmark = pytest.mark.slow  # it runs the bot as a process (tests/processes.py)

#: 50,000 in and 750,000 out on gpt-5.6-terra: $9.10, 91% of a $10 limit.
OPENAI_USAGE = {"input_tokens": 50_000, "output_tokens": 750_000}
#: 100,000 in and 540,000 out on claude-sonnet-4-6: $8.40, 84% of a $10 limit.
ANTHROPIC_USAGE = {"input_tokens": 100_000, "output_tokens": 540_000}
SUMMARY = {
    "overview": "Pricing sync for the Team plan.",
    "decisions": ["Team plan costs $19 a seat"],
    "action_items": [{"task": "Update the copy", "owner": "Priya Raman", "due": "Friday"}],
    "open_questions": [],
}


async def test_answers_refusals_and_summaries_show_their_notices(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    fake_providers["openai"].reply(text="Tea is brewed from leaves.", **OPENAI_USAGE)
    fake_providers["anthropic"].reply(text=json.dumps(SUMMARY), **ANTHROPIC_USAGE)
    script = "\n".join([
        "/byok add openai",
        fake_providers.key("openai"),
        "/byok limit openai 10",
        "/byok prefs auto-switch off",
        "What is tea?",
        "/ask --max-tokens 100000 And coffee?",  # could cost $1.20: more than the $0.90 left
        "/byok add anthropic",
        fake_providers.key("anthropic"),
        "/byok limit anthropic 10",
        f"/summarize --provider anthropic --file {FIXTURES / 'zoom_pricing_sync.vtt'}",
    ])  # fmt: skip
    out, err, code = await console(
        tmp_path, config, script + "\n", env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    )
    assert code == 0, err
    answer, refusal, summary = out.split("Spending\n")[1:4]
    assert answer.startswith(
        "  • You have used 91% ($9.10 of $10.00) of your OpenAI limit this month.\n"
    )
    assert refusal.startswith(
        "  • You have nearly used all of your monthly limit for OpenAI ($9.10 of $10.00): "
        "requests that could cost more than the $0.90 left are refused until next month "
        "unless you raise it with `/byok limit openai <usd>`.\n"
    )
    assert summary.startswith(
        "  • You have used 84% ($8.40 of $10.00) of your Anthropic limit this month.\n"
    )
    assert "Meeting summary" in out and "Traceback" not in err
