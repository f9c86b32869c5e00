"""A usage report counts questions (request ids) apart from attempts at providers."""

from __future__ import annotations

from tests.engine.conftest import Rig
from tests.fakes.loopback import Fault

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


async def test_a_question_answered_after_a_fallback_is_one_question_of_two_attempts(
    rig_any_db: Rig,
) -> None:
    rig = rig_any_db  # SQLite and PostgreSQL
    await rig.add_key("openai")
    await rig.add_key("anthropic")
    await rig.service().set_preferences(
        default_provider="openai", fallback_provider="anthropic", auto_switch_provider=True
    )
    rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    answered = await rig.service().chat(QUESTION)
    assert answered.provider_id == "anthropic"
    await rig.service().chat(QUESTION)  # openai answers this one
    report = await rig.service().usage_report("month")
    lines = {line.provider_id: (line.questions, line.requests) for line in report.lines}
    assert lines == {"anthropic": (1, 1), "openai": (2, 2)}
    # Summed over lines the fallback question would count twice: the total is distinct.
    assert (report.questions, report.requests) == (2, 3)
