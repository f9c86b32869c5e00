"""Model names: the original product's names map to documented current models, and an
unknown model is answered with the models the key can actually use."""

from __future__ import annotations

import pytest
from genai_prices.data_snapshot import get_snapshot

from bot.commands.table import COMMAND_HINTS
from byok.errors import UnknownModelError
from byok.providers.models import (
    LEGACY_MODELS,
    OPENROUTER_AUTO,
    ensure_available,
    legacy_models,
    resolve_model,
)
from tests.providers.chat import Subject, ask, call

# Every model name the original product description uses.
ORIGINAL_NAMES = [
    ("openai", "gpt-4"),
    ("openai", "gpt-4-turbo"),
    ("openai", "gpt-3.5-turbo"),
    ("anthropic", "claude-3-opus"),
    ("anthropic", "claude-3-sonnet"),
    ("anthropic", "claude-3-haiku"),
    ("google", "gemini-pro"),
    ("google", "gemini-pro-vision"),
    ("xai", "grok-1"),
    ("openrouter", "auto"),
]


@pytest.mark.parametrize(("provider_id", "name"), ORIGINAL_NAMES)
def test_every_original_name_has_a_documented_replacement(provider_id: str, name: str) -> None:
    choice = resolve_model(provider_id, name, default_model="default")

    legacy = LEGACY_MODELS[(provider_id, name)]
    assert choice.model_id == legacy.replacement != name
    assert choice.requested == name
    assert choice.note and legacy.reason in choice.note


def test_replacements_are_current_priced_models() -> None:
    # OpenRouter's auto router is priced per request (it reports the cost itself).
    snapshot = get_snapshot()
    prices_id = {"xai": "x-ai"}
    for legacy in legacy_models():
        if legacy.replacement == OPENROUTER_AUTO:
            continue
        pid = prices_id.get(legacy.provider_id, legacy.provider_id)
        _, model = snapshot.find_provider_model(legacy.replacement, None, pid, None)
        assert not model.deprecated, legacy


@pytest.mark.parametrize(
    ("provider_id", "typed", "expected"),
    [
        ("openai", "GPT-4", "gpt-5.6-sol"),
        ("openai", "gpt-4-0613", "gpt-5.6-sol"),
        ("openai", "gpt-4-turbo-2024-04-09", "gpt-5.6-sol"),
        ("openai", "gpt-3.5-turbo-0125", "gpt-5.6-terra"),
        ("anthropic", "claude-3-opus-20240229", "claude-opus-4-7"),
        ("anthropic", "claude-3-haiku-20240307", "claude-haiku-4-5"),
        ("google", "gemini-1.0-pro", "gemini-3.5-flash"),
        ("google", "gemini-pro-vision-latest", "gemini-3.5-flash"),
    ],
)
def test_dated_and_cased_variants_resolve_like_the_name(
    provider_id: str, typed: str, expected: str
) -> None:
    assert resolve_model(provider_id, typed, default_model="x").model_id == expected


@pytest.mark.parametrize(
    ("provider_id", "typed"),
    [
        ("openai", "gpt-5.6-sol"),
        ("openai", "gpt-4o-mini"),  # still served: not a retired name
        ("anthropic", "claude-sonnet-4-6"),
        ("openrouter", "anthropic/claude-sonnet-4.6"),
        ("openrouter", "openrouter/auto"),
        ("google", "gemini-3.5-flash"),
    ],
)
def test_current_ids_pass_through_unchanged(provider_id: str, typed: str) -> None:
    choice = resolve_model(provider_id, typed, default_model="x")

    assert (choice.model_id, choice.note) == (typed, None)


def test_no_model_means_the_provider_default() -> None:
    choice = resolve_model("xai", None, default_model="grok-4.3")

    assert (choice.model_id, choice.requested, choice.note) == ("grok-4.3", None, None)
    assert resolve_model("xai", "  ", default_model="grok-4.3").model_id == "grok-4.3"


def test_legacy_names_only_apply_to_their_provider() -> None:
    # "gpt-4" on OpenRouter is not OpenAI's retired name; OpenRouter ids are vendor/model.
    assert resolve_model("openrouter", "gpt-4", default_model="x").model_id == "gpt-4"


def test_table_is_exported_for_display() -> None:
    rows = legacy_models("anthropic")

    assert [r.name for r in rows] == ["claude-3-opus", "claude-3-sonnet", "claude-3-haiku"]
    assert all(r.reason for r in legacy_models())


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_unknown_model_lists_what_the_key_can_use(subject: Subject, streamed: bool) -> None:
    with pytest.raises(UnknownModelError) as raised:
        await call(subject.provider, subject.key, ask("no-such-model", "hi"), streamed=streamed)

    err = raised.value
    assert err.model_id == "no-such-model"
    assert sorted(err.available) == sorted(subject.fake.models)
    for model in subject.fake.models:
        assert model in COMMAND_HINTS.error_text(err)


async def test_ensure_available(subject: Subject) -> None:
    await ensure_available(subject.provider, subject.key, subject.fake.models[0])

    with pytest.raises(UnknownModelError) as raised:
        await ensure_available(subject.provider, subject.key, "gpt-1")
    assert sorted(raised.value.available) == sorted(subject.fake.models)
