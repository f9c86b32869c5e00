"""Providers are named to people by their display name; ids stay where they are typed.

The console runs the configured bot (``byok-bot console``), so the built-in names and an
operator's ``[providers.local] display_name`` come from the config as in production.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.provider_names import ProviderNames
from tests.bot.conftest import Chat
from tests.bot.test_console import console, write_config
from tests.bot.test_money_surfaces import _discord_text, _slack_text
from tests.engine.conftest import MakeRig
from tests.fakes.plugin import FakeProviders

BUILT_IN = dict(ProviderNames.builtin().names)


def test_a_name_an_id_and_an_id_no_longer_offered() -> None:
    names = ProviderNames({"xai": "xAI Grok", "local": "local"})
    assert names.label("xai") == "xAI Grok"
    assert names.label_with_id("xai") == "xAI Grok (`xai`)"
    assert names.label_with_id("local") == "local"  # no display name: the id, once
    assert names.label("gone") == "gone" and names.label_with_id("gone") == "gone"
    assert ProviderNames.builtin().label("google") == "Google Gemini"


def _with_office_llama(tmp_path: Path, fakes: FakeProviders) -> Path:
    """The fakes, plus an operator's keyless OpenAI-compatible endpoint named "Office Llama".

    It serves gpt-4o-mini: the compatible wire sends `max_tokens`, which OpenAI's reasoning models
    refuse (as the fake does).
    """
    config = write_config(tmp_path, fakes)
    local = [
        "[providers.local]",
        'wire = "openai-compatible"',
        'display_name = "Office Llama"',
        f'base_url = "{fakes.settings("openai").base_url}"',
        'default_model = "gpt-4o-mini"',
        "requires_user_key = false",
        f'operator_key = "{fakes.key("openai")}"',
        "max_retries = 0",
        "",
    ]
    config.write_text(config.read_text() + "\n".join(local))
    return config


@pytest.mark.slow
async def test_the_console_names_built_in_and_operator_providers(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = _with_office_llama(tmp_path, fake_providers)
    fake_providers["openai"].reply(text="Llamas hum.", input_tokens=14, output_tokens=7)
    fake_providers["xai"].reply(text="Grok here.", input_tokens=5, output_tokens=3)
    script = "\n".join([
        "/byok list",
        "/ask --provider local What do llamas do?",
        "/byok add xai",
        fake_providers.key("xai"),
        "/ask --provider xai hi",
        "/byok list",
        "/byok default local",
        "/usage",
        "/help",
    ])  # fmt: skip
    out, err, code = await console(
        tmp_path, config, script + "\n", env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    )
    assert code == 0, err
    assert (
        "providers: OpenAI (`openai`), Anthropic (`anthropic`), Google Gemini (`google`), "
        "xAI Grok (`xai`), OpenRouter (`openrouter`), Office Llama (`local`)."
    ) in out
    assert "— Office Llama · gpt-4o-mini · 14 in / 7 out tokens · " in out
    assert "Stored your xAI Grok key …" in out and "Checked with xAI Grok: " in out
    assert "Ask with `/ask --provider xai <question>`." in out  # typed: the id
    assert "— xAI Grok · grok-4.3 · 5 in / 3 out tokens · " in out
    assert "\nxAI Grok (`xai`)\n  Key: …" in out  # /byok list's heading for the key
    assert "Your default provider is now Office Llama." in out
    assert "\nOffice Llama — 1 request, " in out and "\nxAI Grok — 1 request, " in out
    assert "Providers: OpenAI (`openai`), " in out and "Office Llama (`local`). " in out
    assert "— local ·" not in out and "— xai ·" not in out


async def test_slack_and_discord_show_the_same_names(make_rig: MakeRig) -> None:
    rig = await make_rig(display_names=BUILT_IN)
    chat = Chat(Dispatcher(BotContext(rig.engine)), rig)
    await chat.add_key("xai")
    rig.fakes["xai"].reply(text="Grok here.", input_tokens=5, output_tokens=3)
    answer = (await chat.say("/ask --provider grok hi")).reply
    usage = (await chat.say("/usage")).reply
    footer = "xAI Grok · grok-4.3 · 5 in / 3 out tokens · "
    assert (answer.footer or "").startswith(footer)
    assert footer in _slack_text(answer) and footer in _discord_text(answer)
    assert (usage.sections[0].title or "").startswith("xAI Grok — 1 request, ")
    for rendered in (_slack_text(usage), _discord_text(usage)):
        assert "xAI Grok — 1 request, " in rendered
    removed = (await chat.say("/byok remove xai")).reply
    assert removed.text == "Removed your xAI Grok key. It is gone for good."
