"""The engine's own refusals and notes name providers as people know them ("xAI Grok"),
and keep the id where it is typed (``/byok enable xai``), so one reply never says
"OpenAI" in one line and "openai" in the next.

Through the dispatcher over the fake providers, with the built-in display names.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.provider_names import ProviderNames
from byok.catalog import Catalog, ProviderEntry
from byok.db import Database
from byok.engine import Engine, EngineSettings
from byok.money import usd
from byok.pricing import estimate_input_tokens, worst_case_cost
from byok.providers.registry import build_provider, provider_settings
from byok.types import ChatMessage
from byok.vault import Keyring
from tests.bot.conftest import Chat
from tests.bot.test_money_surfaces import _discord_text, _slack_text
from tests.databases import migrated_sqlite_url
from tests.engine.conftest import Clock, MakeRig, Rig
from tests.fakes.loopback import Fault
from tests.fakes.plugin import FakeProviders

BUILT_IN = dict(ProviderNames.builtin().names)
QUESTION = "Explain TCP slow start."


@pytest.fixture
async def chat(make_rig: MakeRig) -> Chat:
    rig = await make_rig(display_names=BUILT_IN)
    return Chat(Dispatcher(BotContext(rig.engine)), rig)


async def test_a_failing_provider_is_named_and_the_command_keeps_its_id(chat: Chat) -> None:
    await chat.add_key("xai")
    chat.rig.fakes["xai"].inject(Fault.rate_limited(retry_after="12"), path="chat/completions")

    said = await chat.say(f"/ask --provider grok {QUESTION}")

    assert said.text == "xAI Grok is rate limiting your key. Try again in 12 s."
    assert said.text in _slack_text(said.reply) and said.text in _discord_text(said.reply)

    chat.rig.fakes["xai"].inject(Fault.http(503), path="chat/completions")
    said = await chat.say(f"/ask --provider xai {QUESTION}")
    assert said.text == (
        "xAI Grok is not answering right now (server error 503). Try again in a minute or ask "
        "another provider with `--provider`."
    )

    chat.rig.fakes["xai"].inject(Fault.rate_limited(retry_after="12"))
    tested = await chat.say("/byok test xai")
    assert tested.text == (
        "Could not check your xAI Grok key: xAI Grok is rate limiting your key. Try again in 12 s."
    )


async def test_a_key_switched_off_or_missing_is_named(chat: Chat) -> None:
    await chat.add_key("xai")
    await chat.say("/byok disable xai")

    disabled = await chat.say(f"/ask --provider xai {QUESTION}")
    missing = await chat.say(f"/ask --provider google {QUESTION}")
    no_key_to_limit = await chat.say("/byok limit anthropic 5")

    assert (
        disabled.text == "Your xAI Grok key is disabled. Turn it back on with `/byok enable xai`."
    )
    assert missing.text == (
        "You have no Google Gemini key yet. Add one with `/byok add google` (it asks for the "
        "key privately)."
    )
    assert no_key_to_limit.text == "You have no Anthropic key. Add one with `/byok add anthropic`."


async def test_a_monthly_limit_refusal_names_the_provider(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok limit openai 0.01")

    said = await chat.say(f"/ask --max-tokens 5000 {QUESTION}")

    need = worst_case_cost(
        "openai", "gpt-5.6-terra", estimate_input_tokens([ChatMessage("user", QUESTION)]), 5000
    )
    assert need is not None
    assert said.text == (
        f"This request could cost up to {usd(need)}, more than the $0.01 left of your OpenAI "
        "monthly limit of $0.01 ($0.00 spent). Raise it with `/byok limit openai <usd>`, lower "
        "`--max-tokens`, or ask another provider."
    )


async def test_a_key_for_another_provider_names_both(chat: Chat) -> None:
    said = await chat.say("/byok add xai")
    assert said.reply.secret_request is not None
    openai_shaped = "sk-proj-" + secrets.token_hex(20)

    reply = await chat.dispatcher.submit_key(
        chat.invocation("/byok add xai"), said.reply.secret_request, openai_shaped
    )

    assert reply.text == (
        "That looks like an OpenAI key (it starts with `sk-proj-`), not your xAI Grok key. "
        "Nothing was stored. Add it with `/byok add openai`, or paste your xAI Grok key instead."
    )


async def test_the_routing_notes_name_providers(chat: Chat) -> None:
    await chat.add_key("anthropic")
    await chat.add_key("xai")

    by_model = await chat.say(f"/ask --model grok-4.3 {QUESTION}")
    assert "`grok-4.3` is an xAI Grok model, so xAI Grok was asked." in by_model.text

    await chat.say("/byok prefs cost-optimization on")
    cheapest = await chat.say("/ask --max-tokens 10 What is 2 + 2?")
    assert (
        "Cost optimisation chose grok-4.3 from xAI Grok (at most $0.0000413 for this request; "
        "next cheapest claude-sonnet-4-6 from Anthropic at $0.000189)."
    ) in cheapest.text


@pytest.fixture
async def office_llama(
    rig: Rig, fake_providers: FakeProviders, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[Chat]:
    """A keyless endpoint the operator runs, named "Office Llama", that nothing answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    database = Database(migrated_sqlite_url(tmp_path / "llama.db"))
    local = provider_settings(
        "local",
        base_url=f"http://127.0.0.1:{closed_port}/v1",
        default_model="llama3",
        max_retries=0,
    )
    entry = ProviderEntry(build_provider(local), "Office Llama", requires_user_key=False)
    engine = Engine(
        database,
        keyring,
        Catalog({"local": entry}),
        EngineSettings(requests_per_minute=10_000),
        clock=Clock(),
    )
    yield Chat(Dispatcher(BotContext(engine)), Rig(engine, fake_providers, Clock()))
    await engine.aclose()


async def test_an_operator_endpoint_is_named_as_the_operator_named_it(office_llama: Chat) -> None:
    said = await office_llama.say(f"/ask {QUESTION}")

    assert said.text == (
        "The operator's endpoint Office Llama is not answering (could not connect) — tell your "
        "bot operator."
    )


async def test_a_refusal_and_its_spend_notice_name_the_provider_alike(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok limit openai 10")
    await chat.say("/byok prefs auto-switch off")
    # 50,000 in and 750,000 out on gpt-5.6-terra: $9.10, 91% of the $10 limit.
    chat.rig.fakes["openai"].reply(text="ok", input_tokens=50_000, output_tokens=750_000)
    await chat.say("/ask What is tea?")

    said = await chat.say("/ask --max-tokens 100000 And coffee?")

    assert said.reply.text == (
        "This request could cost up to $1.20, more than the $0.90 left of your OpenAI monthly "
        "limit of $10.00 ($9.10 spent). Raise it with `/byok limit openai <usd>`, lower "
        "`--max-tokens`, or ask another provider."
    )
    [spending] = said.reply.sections
    assert spending.bullets == (
        "You have nearly used all of your monthly limit for OpenAI ($9.10 of $10.00): requests "
        "that could cost more than the $0.90 left are refused until next month unless you "
        "raise it with `/byok limit openai <usd>`.",
    )
