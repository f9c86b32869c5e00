"""``/ask --compare`` in Slack: one message per provider in the thread, each streaming on
its own, and the command's own message ending as the closing line."""

from __future__ import annotations

import secrets
from dataclasses import replace

from adapters.slack.app import build_client
from adapters.slack.delivery import Delivery, SlackOptions, Target
from bot.reply import Delta, Part, Reply, Status
from tests.fakes.fake_slack import FakeSlack
from tests.slack.test_streaming import Step, script, shows


def answer(provider: str, text: str) -> Reply:
    return Reply(
        text=text,
        footer=f"{provider} · m · 1 in / 2 out tokens · $0.01 · 0.4 s",
        tone="answer",
        private=False,
    )


async def test_each_provider_gets_its_own_message_in_the_thread(fake_slack: FakeSlack) -> None:
    client = build_client(fake_slack.api_url, "xoxb-" + secrets.token_hex(8))
    target = Target(
        channel="C7", user="U111", team="T111", private=False, placeholder="Working on it…"
    )
    delivery = Delivery(client, target, SlackOptions(interval=0.0))
    failed = Reply(text="OpenAI is not answering.", footer="openai · failed", tone="error")
    steps: list[Step] = [
        Status("Asking anthropic, google, openai…"),
        Part("anthropic", "Anthropic", Delta("alpha ")),
        shows(fake_slack, "C7", "alpha"),
        Part("google", "Google", Delta("uno ")),
        Part("anthropic", "Anthropic", Delta("beta")),
        shows(fake_slack, "C7", "alpha beta"),
        Part("google", "Google", answer("google", "uno dos")),
        Part("openai", "OpenAI", replace(failed, private=False)),
        Part("anthropic", "Anthropic", answer("anthropic", "alpha beta")),
        Reply(
            text="fastest: Anthropic (0.4 s) · total $0.02 · 1 failed", tone="answer", private=False
        ),
    ]
    await delivery.run(script(steps))

    messages = fake_slack.messages["C7"]
    root, *parts = messages
    assert root["ts"] and "fastest: Anthropic" in fake_slack.texts("C7")[0]
    assert all(m.get("thread_ts") == root["ts"] for m in parts)  # in the command's thread
    shown = fake_slack.texts("C7")[1:]
    assert len(shown) == 3  # one message per provider, no more
    by_title = {t.split("\n", 1)[0]: t for t in shown}
    assert "alpha beta" in by_title["Anthropic"] and "anthropic · m" in by_title["Anthropic"]
    assert "uno dos" in by_title["Google"]
    assert "OpenAI is not answering." in by_title["OpenAI"]
    assert not fake_slack.calls_to("chat.startStream")  # edits, not native streams
