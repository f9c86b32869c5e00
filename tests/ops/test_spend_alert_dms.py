"""Spend alerts from the real ``byok-bot run`` process: a user whose request crosses 80%
of their monthly limit gets a DM on their own platform (Slack and Discord), saying the
figure they reached, and the answer says it too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.fakes.discord_events import ALICE
from tests.fakes.llm_script import Reply as LLMReply
from tests.ops.conftest import Deployment, discord_user, slack_user
from tests.ops.harness import poll

#: One answer reports 50,000 input and 750,000 output tokens ($0.10 + $9.00 on
#: gpt-5.6-terra): 91% of a $10 limit, while the worst case held before it is far less.
COSTLY = LLMReply(text="Tea is brewed from leaves.", input_tokens=50_000, output_tokens=750_000)
NOTICE = "You have used 91% ($9.10 of $10.00) of your OpenAI limit this month."
TITLE = "OpenAI: 91% of your monthly limit used"


async def _deploy(deployment: Deployment) -> Any:
    config = deployment.write(deployment.settings(discord=True))
    await deployment.seed(
        [
            (slack_user("U111"), "openai", Decimal(10)),
            (discord_user(ALICE["id"]), "openai", Decimal(10)),
        ],
        config,
    )
    return await deployment.start(config)


def _slack_dm_sections(deployment: Deployment, channel: str) -> list[str]:
    posted = deployment.slack.messages.get(channel, [])
    return [b["text"]["text"] for m in posted for b in m.get("blocks", []) if "text" in b]


async def test_crossing_80_percent_sends_the_alert_dm_on_slack_and_on_discord(
    deployment: Deployment,
) -> None:
    bot = await _deploy(deployment)
    deployment.fakes["openai"].reply(COSTLY)
    assert await deployment.sender.command(bot, "/ask", "What is tea?", user="U111") == 200
    await poll(lambda: _slack_dm_sections(deployment, "D111"), "the alert DM in Slack")
    assert _slack_dm_sections(deployment, "D111")[:2] == [f"*:warning: {TITLE}*", NOTICE]
    [opened] = deployment.slack.calls_to("conversations.open")
    assert opened.args["users"] == "U111"
    in_the_answer = json.dumps(f"• {NOTICE}")[1:-1]
    await poll(
        lambda: in_the_answer in json.dumps(deployment.slack.messages.get("C111")),
        "the answer in the channel, which says it too",
    )

    deployment.fakes["openai"].reply(COSTLY)
    events = deployment.events
    await deployment.discord.dispatch(
        "INTERACTION_CREATE", events.command("ask", events.options(prompt="What is tea?"))
    )

    def discord_dms() -> list[dict[str, Any]]:
        channel = deployment.discord.dm_channels.get(ALICE["id"])
        return deployment.discord.from_bot(channel) if channel else []

    [dm] = await poll(discord_dms, "the alert DM in Discord")
    [embed, *_] = dm["embeds"]
    assert (embed["title"], embed["description"]) == (TITLE, NOTICE)
