"""Application commands through discord.py's own parsing, answered on the fake Discord API."""

from __future__ import annotations

import re

import pytest

from bot.provider_names import ProviderNames
from tests.discord.conftest import DiscordRig, MakeDiscord
from tests.fakes.discord_events import CHANNEL_ID, GUILD_ID
from tests.fakes.fake_discord import APP_ID, FakeDiscord


def _commands(discord: DiscordRig, path: str) -> dict[str, dict[str, object]]:
    [put] = discord.fake.requests_to(path, "PUT")
    return {c["name"]: c for c in put.json()}


async def test_commands_are_registered_globally(discord: DiscordRig) -> None:
    commands = _commands(discord, f"/applications/{APP_ID}/commands")
    assert set(commands) == {"ask", "summarize", "usage", "help", "settings", "byok"}
    byok = commands["byok"]
    assert {o["name"] for o in byok["options"]} == {  # type: ignore[attr-defined]
        "add",
        "list",
        "remove",
        "test",
        "enable",
        "disable",
        "limit",
        "models",
        "default",
        "fallback",
        "prefs",
        "panel",
    }
    ask = {o["name"]: o for o in commands["ask"]["options"]}  # type: ignore[attr-defined]
    assert [c["value"] for c in ask["provider"]["choices"]] == [
        "openai",
        "anthropic",
        "google",
        "xai",
        "openrouter",
    ]
    assert ask["model"]["autocomplete"] is True
    assert commands["ask"]["contexts"] == [0, 1]  # servers and DMs with the bot


async def test_commands_go_to_the_dev_guild_when_configured(make_discord: MakeDiscord) -> None:
    discord = await make_discord(dev_guild_id=int(GUILD_ID))
    assert set(_commands(discord, f"/guilds/{GUILD_ID}/commands")) >= {"ask", "byok"}
    assert not discord.fake.requests_to(f"/applications/{APP_ID}/commands", "PUT")


async def test_a_refused_registration_is_logged_and_the_bot_still_runs(
    make_discord: MakeDiscord, discord_api: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    discord_api.forbid("/commands")  # invited without the applications.commands scope
    discord = await make_discord()
    assert "could not register commands globally (code 50013)" in caplog.text
    payload = discord.events.command("help", [])
    await discord.interact(payload)
    assert discord.fake.responses(payload["id"])[0]["embeds"]


async def test_byok_list_is_deferred_ephemerally_then_edited(discord: DiscordRig) -> None:
    payload = discord.events.command("byok", [discord.events.sub("list")])
    await discord.interact(payload)
    assert discord.callbacks(payload) == [{"type": 5, "data": {"flags": 64}}]
    [shown] = discord.fake.responses(payload["id"])
    assert shown["flags"] & 64
    assert shown["embeds"][0]["title"] == "Your keys"
    assert discord.fake.requests_to("/messages/@original", "PATCH")


async def test_an_answer_streams_into_the_channel_and_ends_with_its_footer(
    discord: DiscordRig,
) -> None:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].reply(text="Tea is brewed from leaves.", output_tokens=7)
    payload = discord.events.command("ask", discord.events.options(prompt="What is tea?"))
    await discord.interact(payload)
    assert discord.callbacks(payload) == [{"type": 5}]  # public: everyone sees the answer
    edits = [
        r.json()["content"]
        for r in discord.fake.requests_to(
            f"/webhooks/{APP_ID}/{payload['token']}/messages/@original", "PATCH"
        )
    ]
    assert any("still writing" in e for e in edits[:-1])
    [shown] = discord.fake.responses(payload["id"])
    assert shown["content"].startswith("Tea is brewed from leaves.\n-# openai · ")
    assert not shown["flags"] & 64


async def test_options_become_the_grammar_flags(discord: DiscordRig) -> None:
    await discord.add_key("anthropic")
    await discord.add_key("xai")
    payload = discord.events.command(
        "ask",
        discord.events.options(
            prompt="--not-a-flag, just text",
            provider="xai",
            model="grok-4.6",
            max_tokens=50,
            temperature=0.5,
        ),
    )
    await discord.interact(payload)
    assert not discord.engine.fakes["anthropic"].requests_to("/messages")
    body = discord.engine.fakes["xai"].requests_to("/chat/completions")[-1].json()
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("grok-4.6", 50, 0.5)
    assert body["messages"][-1]["content"] == "--not-a-flag, just text"


async def test_a_long_answer_continues_in_followups_without_splitting_code(
    discord: DiscordRig,
) -> None:
    await discord.add_key("openai")
    code = "\n".join(f"print('line {i}')  # {'x' * 30}" for i in range(150))
    text = f"Here you go:\n\n```python\n{code}\n```\n\nDone."
    discord.engine.fakes["openai"].reply(
        text=text, chunks=tuple(text[i : i + 400] for i in range(0, len(text), 400))
    )
    payload = discord.events.command("ask", discord.events.options(prompt="Write code"))
    await discord.interact(payload)
    messages = discord.fake.responses(payload["id"])
    assert len(messages) >= 4
    for message in messages:
        assert len(message["content"]) <= 2000
        fences = [ln for ln in message["content"].split("\n") if re.match(r"```", ln)]
        assert len(fences) % 2 == 0
        assert "still writing" not in message["content"]
    joined = "\n".join(m["content"] for m in messages)
    assert all(f"print('line {i}')" in joined for i in range(150))
    followups = discord.fake.requests_to(f"/webhooks/{APP_ID}/{payload['token']}", "POST")
    assert followups and all("flags" not in r.json() for r in followups)


async def test_an_error_to_a_public_command_is_shown_privately(discord: DiscordRig) -> None:
    payload = discord.events.command("ask", discord.events.options(prompt="Hi"))
    await discord.interact(payload)  # no key yet: the answer is an error, private
    assert discord.callbacks(payload) == [{"type": 5}]
    [shown] = discord.fake.responses(payload["id"])
    assert shown["flags"] & 64
    assert "/byok add" in shown["embeds"][0]["description"]
    assert not [m for m in discord.fake.visible(CHANNEL_ID) if not m["flags"] & 64]


async def test_private_asks_are_ephemeral(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    payload = discord.events.command("ask", discord.events.options(prompt="Hi", private=True))
    await discord.interact(payload)
    assert discord.callbacks(payload) == [{"type": 5, "data": {"flags": 64}}]


async def test_model_autocomplete_lists_what_the_users_key_can_use(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    payload = discord.events.autocomplete(
        "ask", discord.events.options(prompt="Hi", provider="openai", model="sol"), "model"
    )
    await discord.interact(payload)
    [callback] = discord.callbacks(payload)
    assert callback["type"] == 8
    assert [c["value"] for c in callback["data"]["choices"]] == ["gpt-5.6-sol"]

    everything = discord.events.autocomplete(
        "ask", discord.events.options(prompt="Hi", provider="openai", model=""), "model"
    )
    await discord.interact(everything)
    values = [c["value"] for c in discord.callbacks(everything)[0]["data"]["choices"]]
    assert values[0] == "gpt-5.6-terra"  # the default model first
    assert set(values) == set(discord.engine.fakes["openai"].models)


async def test_model_autocomplete_without_a_key_still_answers(discord: DiscordRig) -> None:
    payload = discord.events.autocomplete(
        "byok", [discord.events.sub("models", provider="google", models="a")], "models"
    )
    await discord.interact(payload)
    [callback] = discord.callbacks(payload)
    assert callback["type"] == 8 and isinstance(callback["data"]["choices"], list)


async def test_usage_and_help_are_private_embeds(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    await discord.interact(discord.events.command("ask", discord.events.options(prompt="Hi")))
    usage = discord.events.command("usage", discord.events.options(period="week"))
    await discord.interact(usage)
    [shown] = discord.fake.responses(usage["id"])
    embed = shown["embeds"][0]
    assert shown["flags"] & 64 and embed["title"] == "Your usage"
    assert embed["fields"][0]["name"].startswith("openai — 1 request, $")
    helped = discord.events.command("help", discord.events.options(command="ask"))
    await discord.interact(helped)
    assert discord.fake.responses(helped["id"])[0]["embeds"][0]["title"] == "/ask"


async def test_a_dm_ask_is_private_and_remembered_by_dm(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    await discord.interact(
        discord.events.command("byok", [discord.events.sub("prefs", setting="history", value="on")])
    )
    for prompt in ("My name is Alice.", "What is my name?"):
        await discord.interact(
            discord.events.command("ask", discord.events.options(prompt=prompt), dm=True)
        )
    sent = discord.engine.fakes["openai"].requests[-1].json()["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "My name is Alice.",
        "What is my name?",
    ]


async def test_an_outdated_command_gets_a_clear_answer(discord: DiscordRig) -> None:
    payload = discord.events.command("translate", [])
    await discord.interact(payload)
    [callback] = discord.callbacks(payload)
    assert callback["type"] == 4 and callback["data"]["flags"] == 64
    assert "changed" in callback["data"]["content"]


async def test_provider_choices_show_names_and_send_ids(make_discord: MakeDiscord) -> None:
    long = "Office Llama, served from the basement rack beside the coffee machine on floor two"
    names = {**ProviderNames.builtin().names, "openrouter": long + ", ask Sam for access" * 2}
    discord = await make_discord(rig_overrides={"display_names": names})

    commands = _commands(discord, f"/applications/{APP_ID}/commands")
    ask = {o["name"]: o for o in commands["ask"]["options"]}  # type: ignore[attr-defined]
    assert ask["provider"]["choices"] == [
        {"name": "OpenAI", "value": "openai"},
        {"name": "Anthropic", "value": "anthropic"},
        {"name": "Google Gemini", "value": "google"},
        {"name": "xAI Grok", "value": "xai"},
        {"name": names["openrouter"][:100], "value": "openrouter"},  # Discord's 100 at most
    ]
    byok = {o["name"]: o for o in commands["byok"]["options"]}  # type: ignore[attr-defined]
    [provider] = byok["default"]["options"]
    assert provider["choices"][-2:] == [
        {"name": names["openrouter"][:100], "value": "openrouter"},
        {"name": "off", "value": "off"},
    ]

    opened = discord.events.command("byok", [discord.events.sub("add", provider="xai")])
    await discord.interact(opened)
    assert discord.callbacks(opened)[0]["data"]["title"] == "Add your xAI Grok API key"
    opened = discord.events.command("byok", [discord.events.sub("add", provider="openrouter")])
    await discord.interact(opened)
    title = discord.callbacks(opened)[0]["data"]["title"]
    assert title == "Add your Office Llama, served from… API key"  # Discord's 45 at most
