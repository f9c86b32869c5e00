"""Hostile or careless input to the commands: a clear refusal, nothing stored, nothing counted.

Each case goes through the dispatcher as the console, Slack and Discord call it, and then
checks that no provider was asked, no usage row was written and no key was stored.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from bot.commands.table import COMMAND_HINTS
from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.provider_names import ProviderNames
from byok.engine import EngineSettings
from tests.bot.conftest import Chat
from tests.bot.test_console import console, write_config
from tests.engine.conftest import MakeRig
from tests.fakes.plugin import FakeProviders

BETWEEN = "Limits are $0.01 to $1,000,000.00 a month"


async def assert_nothing_happened(chat: Chat) -> None:
    assert sum(len(chat.rig.fakes[p].requests) for p in chat.rig.fakes) == 0
    assert await chat.rig.usage_rows() == []
    assert await chat.rig.engine.keys.list(chat.invocation("/byok").user_ref) == []


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("/ask --temperature nan hi", "`--temperature` must be between 0 and 2 (got nan)."),
        ("/ask --temperature -nan hi", "`--temperature` must be between 0 and 2 (got -nan)."),
        ("/ask -t inf hi", "`--temperature` must be between 0 and 2 (got inf)."),
        ("/ask --max-tokens 99999999999 hi", "`--max-tokens` must be between 1 and 200,000 (got 99999999999)."),
        ("/ask --max-tokens " + "9" * 5000 + " hi", "`--max-tokens` must be between 1 and 200,000 (got 99999999999999999999…)."),
        ("/ask --max-tokens 1e20 hi", "`--max-tokens` needs a whole number, not `1e20`."),
        ("/ask --model " + "m" * 129 + " hi", "`--model` is at most 128 characters (got 129): check the model name."),
        ("/summarize --model " + "m" * 129 + " notes", "`--model` is at most 128 characters (got 129): check the model name."),
        ("/byok prefs model openai " + "m" * 129, "A model name is at most 128 characters (got 129): check the model name."),
        ("/byok models openai gpt-4o," + "m" * 129, "A model name is at most 128 characters (got 129): check the model name."),
        ("/byok add openai --models " + "m" * 129, "A model name is at most 128 characters (got 129): check the model name."),
        ("/byok add openai --label " + "w" * 70, "`--label` is at most 64 characters (got 70)."),
        ("/byok limit openai 1e309", f"A limit of `1e309` is more than $1,000,000.00. {BETWEEN}; for no limit, use `off`."),
        ("/byok limit openai 99999999999", f"A limit of `99999999999` is more than $1,000,000.00. {BETWEEN}; for no limit, use `off`."),
        ("/byok limit openai 1e-400", f"A limit of `1e-400` is less than $0.01, so it would refuse every request. {BETWEEN}; to stop using a key, `/byok disable <provider>`; for no limit, use `off`."),
        ("/byok limit openai 0.004", f"A limit of `0.004` is less than $0.01, so it would refuse every request. {BETWEEN}; to stop using a key, `/byok disable <provider>`; for no limit, use `off`."),
        ("/byok limit openai $0", f"A limit of $0 would refuse every request. {BETWEEN}; to stop using a key, `/byok disable <provider>`; for no limit, use `off`."),
        ("/byok add openai --limit 1e309", f"A limit of `1e309` is more than $1,000,000.00. {BETWEEN}; for no limit, use `off`."),
        ("/byok prefs max-tokens 1e20", "`max-tokens` needs a whole number of tokens or `off`, not `1e20`."),
        ("/byok prefs max-tokens 100000000000000000000", "`max-tokens` must be between 1 and 200,000 tokens, or `off` for no cap (got 10000000000000000000…)."),
        ("/byok prefs max-tokens 200001", "`max-tokens` must be between 1 and 200,000 tokens, or `off` for no cap (got 200001)."),
    ],
)  # fmt: skip
async def test_bad_numbers_and_names_are_refused_with_the_rule(
    chat: Chat, line: str, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        reply = await chat.say(line)
    assert reply.reply.tone == "error"
    assert reply.text == said
    assert not any(r.exc_info for r in caplog.records)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
    await assert_nothing_happened(chat)


async def test_the_largest_values_allowed_are_accepted(chat: Chat) -> None:
    await chat.add_key("openai")
    assert "`max-tokens` is now 200000" in (await chat.say("/byok prefs max-tokens 200000")).text
    said = await chat.say("/byok limit openai 1000000")
    assert "limited to $1,000,000.00 a month" in said.text
    said = await chat.say("/byok limit openai 0.01")
    assert "limited to $0.01 a month" in said.text
    listed = await chat.say("/byok list")
    assert "of $0.01" in listed.text
    said = await chat.say("/byok add openai --label " + "w" * 64)
    assert said.reply.secret_request is not None
    assert said.reply.secret_request.label == "w" * 64


@pytest.mark.parametrize(
    ("insert", "named"),
    [
        ("\u200b", "zero width space U+200B"),
        ("é", "latin small letter e with acute U+00E9"),
        ("\u00a0", "no-break space U+00A0"),
        ("\t", "control character U+0009"),
    ],
)
async def test_a_key_with_a_character_no_provider_accepts_is_refused(
    chat: Chat, insert: str, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = chat.rig.fakes.key("openai")
    pasted = key[:12] + insert + key[12:]
    with caplog.at_level(logging.INFO):
        said = await chat.add_key("openai", pasted)
    assert said.reply.tone == "error"
    assert said.text == (
        f"The key contains a character that is not allowed ({named} at position 13) — "
        "paste it again. Nothing was stored."
    )
    assert not any(r.exc_info for r in caplog.records)
    assert all(key not in r.getMessage() for r in caplog.records)
    await assert_nothing_happened(chat)


async def test_a_key_typed_in_a_dm_with_a_zero_width_space_is_refused(chat: Chat) -> None:
    key = chat.rig.fakes.key("anthropic")
    said = await chat.say(f"/byok add anthropic {key}\u200b", private=True)
    assert said.text == (
        "The key contains a character that is not allowed "
        f"(zero width space U+200B at position {len(key) + 1}) — paste it again. "
        "Nothing was stored."
    )
    await assert_nothing_happened(chat)


async def test_surrounding_whitespace_around_a_key_is_still_trimmed(chat: Chat) -> None:
    key = chat.rig.fakes.key("openai")
    said = await chat.add_key("openai", f"  {key}\n")
    assert said.reply.tone == "success", said.text


async def test_engine_refuses_such_a_key_before_any_request(chat: Chat) -> None:
    from byok.errors import ByokError

    service = chat.rig.service()
    with pytest.raises(ByokError) as caught:
        await service.validate_api_key("openai", "sk-" + "é" * 20)
    assert "U+00E9 at position 4" in COMMAND_HINTS.error_text(caught.value)
    await assert_nothing_happened(chat)


async def test_refused_input_does_not_count_against_the_request_rate(make_rig: MakeRig) -> None:
    rig = await make_rig(settings=EngineSettings(requests_per_minute=1))
    chat = Chat(Dispatcher(BotContext(rig.engine)), rig)
    await chat.add_key("openai")
    for line in (
        "/ask --temperature nan hi",
        "/ask --max-tokens 99999999999 hi",
        "/ask --model " + "m" * 129 + " hi",
    ):
        assert (await chat.say(line)).reply.tone == "error"
    assert await rig.usage_rows() == []
    rig.fakes["openai"].reply(text="fine")
    assert (await chat.say("/ask hi")).reply.text == "fine"
    assert "You are sending requests quickly." in (await chat.say("/ask again")).text
    assert len(await rig.usage_rows()) == 1


@pytest.mark.slow
async def test_the_console_refuses_a_piped_key_with_a_zero_width_space(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    key = fake_providers.key("openai")
    script = f"/byok add openai\n{key[:12]}\u200b{key[12:]}\n/byok list\n"
    out, err, code = await console(
        tmp_path, config, script, env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    )
    assert code == 0, err
    assert (
        "✗ The key contains a character that is not allowed (zero width space U+200B at "
        "position 13) — paste it again. Nothing was stored."
    ) in out
    assert "You have no keys yet" in out
    assert "Traceback" not in err and "Something went wrong" not in out
    assert key[12:] not in out + err
    assert fake_providers["openai"].requests == []


async def test_the_key_forms_take_a_label_as_long_as_the_commands_do(chat: Chat) -> None:
    from adapters.discord.modals import KeyForm, KeyModal
    from adapters.slack.modals import key_form

    longest = "w" * 64  # user_api_keys.label is VARCHAR(64)
    request = (await chat.say(f"/byok add openai --label {longest}")).reply.secret_request
    assert request is not None and request.label == longest
    slack = {
        b.get("block_id"): b
        for b in key_form(("openai",), request, {}, names=ProviderNames.builtin())["blocks"]
    }
    assert slack["label"]["element"]["max_length"] == 64
    assert slack["label"]["element"]["initial_value"] == longest
    assert KeyModal(KeyForm("openai", 1)).label.max_length == 64
    # The limit field refuses in the form what /byok limit refuses.
    assert slack["limit"]["element"]["min_value"] == "0.01"
    assert slack["limit"]["element"]["max_value"] == "1000000"
