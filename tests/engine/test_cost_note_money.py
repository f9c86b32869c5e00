"""The cost-optimisation note names its amounts in the one money format (bot and engine)."""

from __future__ import annotations

from tests.engine.conftest import Rig

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


async def test_the_cost_optimisation_note_keeps_sub_cent_digits(rig: Rig) -> None:
    await rig.add_key("anthropic")  # claude-sonnet-4-6: $3 / $15 per M
    await rig.add_key("xai")  # grok-4.3: $2.5 / $5 per M
    await rig.service().set_preferences(enable_cost_optimization=True)
    answer = await rig.service().chat(QUESTION, max_tokens=10)
    [note] = [n for n in answer.notes if n.startswith("Cost optimisation")]
    # Worst cases of a few thousandths of a cent: five fixed decimals said "$0.00004".
    assert note == (
        "Cost optimisation chose grok-4.3 from xai (at most $0.0000413 for this request; "
        "next cheapest claude-sonnet-4-6 from anthropic at $0.000189)."
    )
