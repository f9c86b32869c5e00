"""App Home's money: the month's total and each key's spend never show an unknown price
as $0.00; they name the requests of unknown cost (the same text as /usage and /home)."""

from __future__ import annotations

import json

from tests.slack.conftest import USER, SlackRig

OPENED = {"type": "app_home_opened", "user": USER, "channel": "D111", "tab": "home",
          "event_ts": "1.1"}  # fmt: skip
UNPRICED_MODEL = "gpt-99-unreleased"
QUESTION = [{"role": "user", "content": "hi"}]


async def _home_after_two_questions(slack: SlackRig) -> str:
    await slack.rig.add_key("openai")
    fake = slack.rig.fakes["openai"]
    fake.models.append(UNPRICED_MODEL)
    fake.reply(text="a", input_tokens=11, output_tokens=6)
    await slack.rig.service().chat(QUESTION, provider="openai", model=UNPRICED_MODEL)
    fake.reply(text="b", input_tokens=1000, output_tokens=100)  # $0.0032 on gpt-5.6-terra
    await slack.rig.service().chat(QUESTION, provider="openai")
    await slack.event(OPENED)
    await slack.settle()
    return json.dumps(slack.fake.published[USER]["blocks"], ensure_ascii=False)


async def test_the_months_total_names_requests_of_unknown_cost(slack: SlackRig) -> None:
    shown = await _home_after_two_questions(slack)
    assert "2 requests since 01 November, $0.0032 + 1 request of unknown cost." in shown


async def test_a_keys_spend_names_requests_of_unknown_cost(slack: SlackRig) -> None:
    shown = await _home_after_two_questions(slack)
    assert "*This month*\\n$0.0032 + 1 request of unknown cost" in shown  # the key's field
