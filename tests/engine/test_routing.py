"""Routing: who answers when the user names a provider, or does not."""

from __future__ import annotations

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import ByokError, NoKeyError, UnknownProviderError
from byok.routing import ModelNotAllowedError
from tests.engine.conftest import BOB, MakeRig, Rig
from tests.fakes.plugin import FakeProviders

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


async def test_named_provider_answers_with_its_default_model(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.add_key("anthropic")
    rig.fakes["anthropic"].reply(text="Four.", input_tokens=12, output_tokens=3)
    answer = await rig.service().chat(QUESTION, provider="anthropic")
    assert (answer.provider_id, answer.text) == ("anthropic", "Four.")
    assert answer.model == "claude-sonnet-4-6"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 3)
    assert not rig.fakes["openai"].requests[1:]  # only the key check reached OpenAI


async def test_aliases_and_case_are_understood(rig: Rig) -> None:
    await rig.add_key("xai")
    answer = await rig.service().chat(QUESTION, provider="Grok")
    assert answer.provider_id == "xai"


async def test_unknown_provider_lists_the_five(rig: Rig) -> None:
    with pytest.raises(UnknownProviderError) as caught:
        await rig.service().chat(QUESTION, provider="mistral")
    assert "openai, anthropic, google, xai, openrouter" in COMMAND_HINTS.error_text(caught.value)


async def test_without_a_provider_the_default_is_used(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.add_key("google")
    await rig.service().set_preferences(default_provider="gemini")
    answer = await rig.service().chat(QUESTION)
    assert answer.provider_id == "google"


async def test_without_any_default_the_first_usable_key_answers(rig: Rig) -> None:
    await rig.add_key("openrouter")
    answer = await rig.service().chat(QUESTION)
    assert answer.provider_id == "openrouter"


async def test_no_key_says_exactly_how_to_add_one(rig: Rig) -> None:
    with pytest.raises(NoKeyError) as caught:
        await rig.service().chat(QUESTION, provider="anthropic")
    assert "/byok add anthropic" in COMMAND_HINTS.error_text(caught.value)
    with pytest.raises(ByokError, match="no keys") as none:
        await rig.service(BOB).chat(QUESTION)
    assert "/byok add <provider>" in COMMAND_HINTS.error_text(none.value)


async def test_default_without_key_and_auto_switch_off_is_an_error(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().set_preferences(default_provider="anthropic", auto_switch_provider=False)
    with pytest.raises(NoKeyError, match="anthropic"):
        await rig.service().chat(QUESTION)


async def test_preferred_model_and_explicit_model(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().set_preferred_model("openai", "gpt-4o-mini")
    first = await rig.service().chat(QUESTION, provider="openai")
    assert first.model == "gpt-4o-mini"
    second = await rig.service().chat(QUESTION, provider="openai", model="gpt-5.6-sol")
    assert second.model == "gpt-5.6-sol"
    assert rig.fakes["openai"].requests[-1].json()["model"] == "gpt-5.6-sol"


async def test_retired_model_names_map_to_their_successor_and_say_so(rig: Rig) -> None:
    await rig.add_key("anthropic")
    answer = await rig.service().chat(QUESTION, provider="anthropic", model="claude-3-haiku")
    assert answer.model == "claude-haiku-4-5"
    assert any("claude-3-haiku → claude-haiku-4-5" in note for note in answer.notes)


async def test_allowed_models_are_enforced(rig: Rig) -> None:
    await rig.add_key("openai", allowed_models=["gpt-4o-mini"])
    with pytest.raises(ModelNotAllowedError) as caught:
        await rig.service().chat(QUESTION, provider="openai", model="gpt-5.6-sol")
    assert "gpt-4o-mini" in COMMAND_HINTS.error_text(caught.value)
    answer = await rig.service().chat(QUESTION, provider="openai")
    assert answer.model == "gpt-4o-mini"


async def test_cost_optimisation_picks_the_cheapest_priced_model(rig: Rig) -> None:
    await rig.add_key("anthropic")  # claude-sonnet-4-6: $3 / $15 per M
    await rig.add_key("xai")  # grok-4.3: $2.5 / $5 per M
    await rig.service().set_preferences(enable_cost_optimization=True)
    answer = await rig.service().chat(QUESTION, max_tokens=500)
    assert (answer.provider_id, answer.model) == ("xai", "grok-4.3")
    assert any(
        note.startswith("Cost optimisation chose grok-4.3 from xai") for note in answer.notes
    )
    assert any("next cheapest claude-sonnet-4-6 from anthropic" in note for note in answer.notes)


async def test_cost_optimisation_prefers_own_keys_to_a_cheaper_operator_key(
    make_rig: MakeRig, fake_providers: FakeProviders
) -> None:
    rig = await make_rig(operator={"xai": {"key": fake_providers.key("xai")}})
    await rig.service().set_preferences(enable_cost_optimization=True)
    only_operator = await rig.service().chat(QUESTION, max_tokens=500)
    assert (only_operator.provider_id, only_operator.key_source) == ("xai", "operator")
    await rig.add_key("anthropic")  # dearer than grok-4.3, but the user's own
    answer = await rig.service().chat(QUESTION, max_tokens=500)
    assert (answer.provider_id, answer.key_source) == ("anthropic", "user")


async def test_max_tokens_cap_from_preferences(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().set_preferences(max_tokens_per_request=64)
    answer = await rig.service().chat(QUESTION, provider="openai", max_tokens=5000)
    sent = rig.fakes["openai"].requests[-1].json()
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 64
    assert any("capped at 64" in note for note in answer.notes)


async def test_openrouter_never_gets_a_fallback_model_list(rig: Rig) -> None:
    """OpenRouter's own `models`/`route` fallbacks can land on paid models: never sent."""
    await rig.add_key("openrouter")
    free = "meta-llama/llama-3.3-70b-instruct:free"
    rig.fakes["openrouter"].models.append(free)
    answer = await rig.service().chat(QUESTION, provider="openrouter", model=free)
    body = rig.fakes["openrouter"].requests[-1].json()
    assert body["model"] == free
    assert "models" not in body and "route" not in body
    assert answer.notes == ()


async def test_openrouter_substitution_is_reported(rig: Rig) -> None:
    await rig.add_key("openrouter")
    rig.fakes["openrouter"].reply(text="hi", model="openai/gpt-5.6-terra", cost=0.01)
    answer = await rig.service().chat(
        QUESTION, provider="openrouter", model="anthropic/claude-sonnet-4.6"
    )
    assert answer.model == "openai/gpt-5.6-terra"
    assert any("answered with openai/gpt-5.6-terra" in note for note in answer.notes)


async def test_openrouter_auto_and_lost_free_variants_are_reported(rig: Rig) -> None:
    await rig.add_key("openrouter")
    rig.fakes["openrouter"].reply(text="hi", model="anthropic/claude-sonnet-4.6", cost=0.01)
    auto = await rig.service().chat(QUESTION, provider="openrouter", model="openrouter/auto")
    assert auto.model == "anthropic/claude-sonnet-4.6"
    assert "OpenRouter's auto router picked anthropic/claude-sonnet-4.6" in auto.notes[-1]
    free = "meta-llama/llama-3.3-70b-instruct:free"
    rig.fakes["openrouter"].models.append(free)
    rig.fakes["openrouter"].reply(text="hi", model="meta-llama/llama-3.3-70b-instruct", cost=0.02)
    paid = await rig.service().chat(QUESTION, provider="openrouter", model=free)
    assert f"answered with meta-llama/llama-3.3-70b-instruct, not {free}" in paid.notes[-1]


async def test_a_model_name_alone_picks_its_provider(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.add_key("anthropic")
    answer = await rig.service().chat(QUESTION, model="claude-3-haiku")
    assert answer.provider_id == "anthropic"
    assert "`claude-3-haiku` is a anthropic model" not in " ".join(answer.notes)
    assert "`claude-3-haiku` is an anthropic model, so anthropic was asked." in answer.notes
    with pytest.raises(NoKeyError):  # named by its model: no silent switch to openai
        await rig.service().chat(QUESTION, model="gemini-pro")
    local = await rig.service().chat(QUESTION, model="gpt-5.6-terra")
    assert local.provider_id == "openai"
