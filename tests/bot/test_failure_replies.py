"""A request no provider answers gets one short summary — each provider once, in order,
skipped or failed and why — and one next step; a keyless operator endpoint is named and
never blamed on a key of the user's; re-adding a key says what it replaced.

Through the dispatcher as the console calls it, over the fake providers on loopback.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.slack.render import render_reply
from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.formatting import money
from byok.catalog import Catalog, ProviderEntry
from byok.db import Database
from byok.engine import Engine, EngineSettings
from byok.pricing import estimate_input_tokens, worst_case_cost
from byok.providers.registry import PROVIDER_ALIASES, build_provider, provider_settings
from byok.types import ChatMessage
from byok.vault import Keyring
from tests.bot.conftest import Chat
from tests.databases import migrated_sqlite_url
from tests.engine.conftest import Clock, Rig
from tests.fakes.loopback import Fault
from tests.fakes.plugin import FakeProviders

PROVIDERS = ("openai", "anthropic", "google", "xai", "openrouter")
QUESTION = "Explain TCP slow start."


def worst_case(max_tokens: int) -> Decimal:
    cost = worst_case_cost(
        "openai",
        "gpt-5.6-terra",
        estimate_input_tokens([ChatMessage("user", QUESTION)]),
        max_tokens,
    )
    assert cost is not None
    return cost


def assert_one_summary(text: str, providers: tuple[str, ...]) -> None:
    """The summary names each provider exactly once, and one next step follows."""
    summary, _, step = text.partition("\nNext: ")
    for provider in providers:
        assert summary.count(provider) == 1, provider
    assert step and "\n" not in step and "Next:" not in step
    assert "--provider" not in text


async def test_a_limit_skip_then_a_rate_limit_is_one_summary_with_one_next_step(
    chat: Chat,
) -> None:
    await chat.add_key("openai")
    await chat.add_key("anthropic")
    await chat.say("/byok limit openai 0.05")
    await chat.say("/byok default openai")
    await chat.say("/byok fallback anthropic")
    chat.rig.fakes["anthropic"].inject(Fault.rate_limited(retry_after="20"), path="messages")

    said = await chat.say(f"/ask --max-tokens 5000 {QUESTION}")

    assert said.statuses == ["openai skipped — trying anthropic…"]
    assert said.reply.tone == "error"
    assert said.text == (
        "Couldn't answer: openai skipped — its $0.05 monthly limit has $0.05 left, this request "
        f"could cost up to {money(worst_case(5000))} · anthropic failed — rate limited (retry "
        "after 20 s).\n"
        "Next: try again in 20 s, or raise the openai limit with `/byok limit openai <usd>`."
    )
    assert_one_summary(said.text, ("openai", "anthropic"))
    assert "openai failed" not in said.text


async def test_every_provider_failing_the_same_way_is_said_once(chat: Chat) -> None:
    for provider in PROVIDERS:
        await chat.add_key(provider)
        chat.rig.fakes[provider].inject(Fault.http(503))
    await chat.say("/byok default openai")

    said = await chat.say(f"/ask {QUESTION}")

    assert said.statuses == [
        "openai failed — trying anthropic…",
        "anthropic failed — trying google…",
        "google failed — trying xai…",
        "xai failed — trying openrouter…",
    ]
    assert said.text == (
        "Couldn't answer: openai, anthropic, google, xai and openrouter failed — not answering "
        "(server error 503).\n"
        "Next: try again in a minute."
    )
    assert_one_summary(said.text, PROVIDERS)


async def test_the_summary_keeps_the_order_and_each_reason(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.add_key("anthropic")
    await chat.add_key("google")
    await chat.say("/byok default google")
    chat.rig.fakes["google"].inject(Fault.http(503))
    chat.rig.fakes["openai"].inject(
        chat.rig.fakes["openai"].bad_key_fault(), path="chat/completions"
    )
    chat.rig.fakes["anthropic"].inject(Fault.rate_limited(retry_after="12"), path="messages")

    said = await chat.say(f"/ask {QUESTION}")

    assert said.text == (
        "Couldn't answer: google failed — not answering (server error 503) · openai failed — "
        "the key was refused as invalid · anthropic failed — rate limited (retry after 12 s).\n"
        "Next: try again in 12 s, or replace the openai key with `/byok add openai`."
    )
    assert_one_summary(said.text, ("google", "openai", "anthropic"))


async def test_a_single_provider_keeps_its_own_message(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok limit openai 0.05")
    await chat.say("/byok prefs auto-switch off")

    said = await chat.say(f"/ask --max-tokens 5000 {QUESTION}")

    assert said.statuses == []
    assert said.text == (
        f"This request could cost up to {money(worst_case(5000))}, more than the $0.05 left of "
        "your openai monthly limit of $0.05 ($0.00 spent). Raise it with `/byok limit openai "
        "<usd>`, lower `--max-tokens`, or ask another provider."
    )


async def test_an_answer_after_a_fallback_says_why_in_one_line_each(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.add_key("anthropic")
    await chat.say("/byok default openai")
    await chat.say("/byok fallback anthropic")
    chat.rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    chat.rig.fakes["anthropic"].reply(text="It doubles the window each round trip.")

    said = await chat.say(f"/ask {QUESTION}")

    assert said.statuses == ["openai failed — trying anthropic…"]
    assert said.reply.plain_text(with_text=False).startswith(
        "\nAnswered by anthropic instead\n  • openai failed — not answering (server error 503)\n"
    )
    assert "--provider" not in said.text


async def test_slack_shows_the_summary_once(chat: Chat) -> None:
    for provider in ("openai", "anthropic"):
        await chat.add_key(provider)
        chat.rig.fakes[provider].inject(Fault.http(503))
    await chat.say("/byok default openai")

    said = await chat.say(f"/ask {QUESTION}")

    [message] = render_reply(said.reply)
    shown = "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section")
    assert shown == (
        ":x: Couldn't answer: openai and anthropic failed — not answering (server error 503).\n"
        "Next: try again in a minute."
    )


# --- a keyless endpoint the operator runs -------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def with_local(
    rig: Rig, fake_providers: FakeProviders, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[Chat]:
    """The five fakes plus ``local``: an operator's keyless endpoint that is down."""
    database = Database(migrated_sqlite_url(tmp_path / "local.db"))
    entries = {
        pid: ProviderEntry(build_provider(fake_providers.settings(pid)), display_name=pid)
        for pid in PROVIDERS
    }
    local = provider_settings(
        "local",
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        default_model="llama3.3",
        max_retries=0,
    )
    entries["local"] = ProviderEntry(
        build_provider(local), display_name="local", requires_user_key=False
    )
    engine = Engine(
        database,
        keyring,
        Catalog(entries, PROVIDER_ALIASES),
        EngineSettings(requests_per_minute=10_000),
        clock=Clock(),
    )
    context = BotContext(
        engine, max_transcript_chars=20_000, summary_part_tokens=2000, summary_output_tokens=400
    )
    yield Chat(Dispatcher(context), Rig(engine, fake_providers, Clock()))
    await engine.aclose()


async def test_a_failing_operator_endpoint_is_named_and_no_key_is_blamed(
    with_local: Chat,
) -> None:
    said = await with_local.say(f"/ask --provider local {QUESTION}")

    assert said.text == (
        "The operator's endpoint `local` is not answering (could not connect) — tell your bot "
        "operator."
    )
    assert "key" not in said.text


async def test_an_operator_endpoint_refusing_the_request_never_asks_for_a_key(
    rig: Rig, fake_providers: FakeProviders, keyring: Keyring, tmp_path: Path
) -> None:
    fake = fake_providers["openai"]
    fake.inject(fake.bad_key_fault(), path="chat/completions")
    database = Database(migrated_sqlite_url(tmp_path / "open.db"))
    local = provider_settings(
        "local", base_url=fake.base_url, default_model="gpt-5.6-terra", max_retries=0
    )
    entries = {"local": ProviderEntry(build_provider(local), "local", requires_user_key=False)}
    engine = Engine(database, keyring, Catalog(entries), clock=Clock())
    try:
        context = BotContext(
            engine, max_transcript_chars=20_000, summary_part_tokens=2000, summary_output_tokens=400
        )
        said = await Chat(Dispatcher(context), rig).say(f"/ask {QUESTION}")
    finally:
        await engine.aclose()

    assert said.text == (
        "The operator's endpoint `local` refused the request as unauthorised — tell your bot "
        "operator."
    )
    assert "/byok add" not in said.text and "key" not in said.text


async def test_an_operator_endpoint_in_a_fallback_chain(with_local: Chat) -> None:
    await with_local.add_key("openai")
    await with_local.say("/byok default openai")
    await with_local.say("/byok fallback local")
    with_local.rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")

    said = await with_local.say(f"/ask {QUESTION}")

    assert said.text == (
        "Couldn't answer: openai failed — not answering (server error 503) · local failed — "
        "the operator's endpoint is not answering (could not connect).\n"
        "Next: try again in a minute, or tell your bot operator."
    )
    assert_one_summary(said.text, ("openai", "local"))
    assert "/byok add" not in said.text


# --- adding a key again ---------------------------------------------------------------


async def test_adding_a_key_again_says_it_replaced_the_old_one(chat: Chat) -> None:
    first = chat.rig.fakes["openai"].valid_key
    await chat.add_key("openai", first)
    await chat.say("/byok limit openai 10")
    second = chat.rig.fakes["openai"].add_key()

    asked = await chat.say("/byok add openai --label work")
    assert asked.reply.secret_request is not None
    reply = await chat.dispatcher.submit_key(
        chat.invocation("/byok add openai"), asked.reply.secret_request, second
    )

    assert reply.tone == "success" and reply.title == "Key replaced"
    assert reply.text == (
        f"Replaced your openai key …{first[-4:]} with …{second[-4:]}, encrypted. One key per "
        "provider: `--label` names a key, it does not add a second.\n"
        "Checked with openai: 3 models available.\n"
        "No monthly limit now (the old key had $10.00): set one with "
        "`/byok limit openai <usd>`.\n"
        "Ask with `/ask --provider openai <question>`."
    )
    assert first not in reply.plain_text() and second not in reply.plain_text()


async def test_a_first_key_is_simply_stored(chat: Chat) -> None:
    key = chat.rig.fakes["anthropic"].valid_key
    said = await chat.add_key("anthropic", key)
    assert said.reply.title == "Key added"
    assert said.text.splitlines()[1] == f"Stored your anthropic key …{key[-4:]}, encrypted."
