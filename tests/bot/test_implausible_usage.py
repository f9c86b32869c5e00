"""Garbage usage from a provider is recorded as unknown, never as $0 or as millions.

Each fake sends one implausible figure (NaN, text, a negative or an absurd count, or for
OpenRouter a broken cost) where its wire carries it; the official SDKs run unmodified
against it. Whatever the provider, streamed (``/ask``) or not (``chat``): the row's cost
is unknown, its tokens are not the garbage, ``/usage`` says "cost unknown" rather than
$0.00, and one WARNING names the provider, the model and the field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from tests.bot.conftest import Chat
from tests.fakes.llm_script import Reply

QUESTION = [{"role": "user", "content": "Name three prime numbers."}]

TOKEN_GARBAGE: dict[str, object] = {
    "nan": float("nan"),
    "text": "lots",
    "negative": -5,
    "huge": 2**40,
}
COST_GARBAGE: dict[str, object] = {
    "nan": float("nan"),
    "text": "0.00012",
    "negative": -0.25,
    "huge": 2.2e8,  # the $220 million of the audit
}
#: The wire field each fake puts ``output_tokens`` in, as the WARNING names it.
OUTPUT_FIELD = {
    "openai": "completion_tokens",
    "anthropic": "output_tokens",
    "google": "candidatesTokenCount",
    "xai": "completion_tokens",
    "openrouter": "completion_tokens",
}


@dataclass(frozen=True)
class Case:
    provider: str
    figure: str  # the Reply.wire_usage key
    value: object
    field: str  # how the warning names it

    @property
    def refused_by_sdk(self) -> bool:
        """google-genai validates answers: a count that is not an integer fails the call."""
        return self.provider == "google" and not isinstance(self.value, int)


CASES = [
    pytest.param(Case(p, "output_tokens", v, OUTPUT_FIELD[p]), id=f"{p}-tokens-{kind}")
    for p in OUTPUT_FIELD
    for kind, v in TOKEN_GARBAGE.items()
] + [
    pytest.param(Case("openrouter", "cost", v, "cost"), id=f"openrouter-cost-{kind}")
    for kind, v in COST_GARBAGE.items()
]


@pytest.mark.parametrize("case", CASES)
async def test_garbage_usage_is_recorded_as_unknown_never_as_a_price(
    chat: Chat, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    rig = chat.rig
    fake = rig.fakes[case.provider]
    key = rig.fakes.key(case.provider)
    await chat.add_key(case.provider, key)
    for _ in range(2):
        fake.reply(Reply(text="2, 3 and 5", wire_usage={case.figure: case.value}))
    caplog.set_level(logging.WARNING)

    if case.refused_by_sdk:
        with pytest.raises(Exception, match="could not be read"):
            await rig.service().chat(QUESTION, provider=case.provider)
    else:
        answer = await rig.service().chat(QUESTION, provider=case.provider)
        assert answer.text == "2, 3 and 5"
        assert answer.cost is None and not answer.usage.reported
    asked = await chat.say(f"/ask --provider {case.provider} Name three prime numbers.")

    rows = await rig.usage_rows()
    assert [r["request_kind"] for r in rows] == ["chat", "ask"]
    streamed = fake.requests[-1]
    assert "stream" in streamed.path or streamed.json().get("stream")  # /ask streams
    for row in rows:
        assert row["cost"] is None
        assert (row["input_tokens"], row["output_tokens"]) == (0, 0)
    usage = (await chat.say("/usage")).text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # one per call
    if case.refused_by_sdk:
        # The answer was made, so billed: each call keeps its worst case, shown as such.
        assert [r["outcome"] for r in rows] == ["error", "error"]
        assert all(r["reserved_cost"] for r in rows)
        assert "2 of them interrupted and counted at up to" in usage
        assert "could not be read" in asked.text
        assert all(f"{case.provider}: the answer" in w and case.field in w for w in warnings)
    else:
        assert [r["outcome"] for r in rows] == ["success", "success"]
        assert "2, 3 and 5" in asked.text and "tokens not reported · cost unknown" in asked.text
        assert "2 questions · 2 attempts in November 2026 so far; cost unknown" in usage
        assert "$0.00" not in usage
        assert all(
            f"{case.provider} reported implausible usage" in w and case.field in w for w in warnings
        )
    assert key not in caplog.text


async def test_garbage_usage_under_a_limit_keeps_counting_its_worst_case(chat: Chat) -> None:
    rig = chat.rig
    await chat.add_key("openai")
    await chat.say("/byok limit openai 10")
    rig.fakes["openai"].reply(Reply(wire_usage={"output_tokens": -5}))

    answer = await rig.service().chat(QUESTION, provider="openai", max_tokens=1000)

    assert answer.cost is None
    [row] = await rig.usage_rows()
    assert row["cost"] is None and row["reserved_cost"]
    [status] = await rig.service().get_user_api_keys()
    assert status.spent_this_month == row["reserved_cost"] > 0
