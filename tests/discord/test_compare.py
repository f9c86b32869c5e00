"""``/ask compare:true`` in Discord, end to end through the fake Discord: one message per
provider (an embed titled with its name once done), the command's own message ending as the closing line."""

from __future__ import annotations

import json

from tests.discord.conftest import MakeDiscord


async def test_a_comparison_shows_one_message_per_provider(make_discord: MakeDiscord) -> None:
    rig = await make_discord()
    await rig.add_key("openai")
    await rig.add_key("anthropic")
    rig.engine.fakes["openai"].reply(text="Blue from OpenAI.", input_tokens=9, output_tokens=4)
    rig.engine.fakes["anthropic"].reply(text="Blue from Claude.", input_tokens=9, output_tokens=4)
    payload = rig.events.command(
        "ask", rig.events.options(prompt="Why is the sky blue?", compare=True)
    )
    await rig.interact(payload)
    messages = rig.fake.responses(payload["id"])
    shown = [json.dumps(m, ensure_ascii=False) for m in messages]
    assert len(messages) == 3, shown  # one per provider, then the closing line
    openai = next(s for s in shown if "Blue from OpenAI." in s)
    claude = next(s for s in shown if "Blue from Claude." in s)
    assert "openai · gpt-5.6-terra · 9 in / 4 out tokens" in openai
    assert "anthropic · " in claude
    # The command's own message (first, it said "Asking …") ends as the closing line.
    assert messages[0]["content"].startswith("fastest: ") and "total $" in messages[0]["content"]
    titles = [e.get("title") for m in messages[1:] for e in m.get("embeds", [])]
    assert sorted(titles) == ["anthropic", "openai"]
    assert not any("still writing" in s or "⏳" in s for s in shown)
