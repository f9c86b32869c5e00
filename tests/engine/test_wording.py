""" "a" or "an" by how the next word sounds, in the notes a user reads."""

from __future__ import annotations

import pytest

from byok.wording import with_article
from tests.engine.conftest import Rig

QUESTION = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("xai", "an xai"),
        ("xAI", "an xAI"),
        ("x-ray", "an x-ray"),
        ("xenon", "a xenon"),
        ("openai", "an openai"),
        ("anthropic", "an anthropic"),
        ("google", "a google"),
        ("openrouter", "an openrouter"),
        ("ollama", "an ollama"),
        ("vllm", "a vllm"),
        ("LLM", "an LLM"),
        ("URL", "a URL"),
        ("unit", "a unit"),
        ("hour", "an hour"),
    ],
)
def test_the_article_follows_the_sound(word: str, expected: str) -> None:
    assert with_article(word) == expected


async def test_a_grok_model_alone_is_said_to_be_an_xai_model(rig: Rig) -> None:
    await rig.add_key("xai")
    answer = await rig.service().chat(QUESTION, model="grok-4.3")
    assert answer.provider_id == "xai"
    assert "`grok-4.3` is an xai model, so xai was asked." in answer.notes
