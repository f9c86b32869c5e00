"""The settings panel (``/byok panel``, ``/settings``): App Home's facts, edited in place.

A panel control runs an ordinary ``/byok`` command for its owner and edits the panel in
place (UPDATE_MESSAGE, type 7); each test reads the panel as the fake Discord holds it
after the update, as its user would see it.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord import interactions
from adapters.discord.panel import PanelControl
from adapters.slack.home import home_view
from bot.panel import SWITCHES, load_panel
from bot.provider_names import ProviderNames
from tests.discord.conftest import DiscordRig, MakeDiscord, user_ref
from tests.fakes.discord_events import ALICE, BOB
from tests.fakes.fake_discord import components_errors

MONTH = "No requests since 01 November."
KEYS_INTRO = (
    "Stored encrypted; only the last four characters are shown. Spend is this calendar month (UTC)."
)
SWITCH_ROW = "<Switch on or off (on: auto-switch, quota-notices, digest)>"
SWITCH_OPTIONS = [
    "auto-switch: on", "cost-optimization: off", "history: off", "quota-notices: on",
    "digest: on", "empty-digest: off", "cache: off",
]  # fmt: skip


def _shown(component: dict[str, Any]) -> str:
    if component["type"] == 2:
        return f"[{component['label']}]"
    chosen = [o["label"] for o in component["options"] if o.get("default")]
    return f"<{', '.join(chosen) or component.get('placeholder', '')}>"


def panel_text(message: dict[str, Any]) -> str:
    """The panel as its user reads it: notice, embeds, then one line per row of controls."""
    lines = [message["content"]] if message["content"] else []
    for embed in message["embeds"]:
        lines.append(f"# {embed['title']}")
        for field in embed.get("fields", []):
            lines += [f"## {field['name']}", field["value"]]
        if embed.get("footer"):
            lines.append(f"-- {embed['footer']['text']}")
    for row in message["components"]:
        lines.append(" ".join(_shown(c) for c in row["components"]))
    return "\n".join(lines)


def prefs_text(*, default: str = "not set (first usable key)", **changed: str) -> str:
    values = {
        "auto-switch": "on",
        "max-tokens": "off",
        "cost-optimization": "off",
        "history": "off",
        "quota-notices": "on",
        "digest": "on",
        "empty-digest": "off",
        "cache": "off",
        "cache-ttl": "default",
        **changed,
    }
    lines = [
        f"**default provider:** {default}",
        "**fallback provider:** not set (your other keys)",
        "**preferred models:** defaults",
        *(f"**{name}:** {value}" for name, value in values.items()),
    ]
    return "\n".join(lines)


def control(message: dict[str, Any], verb: str, argument: str = "") -> dict[str, Any]:
    for row in message["components"]:
        for component in row["components"]:
            parsed = PanelControl.parse(component["custom_id"])
            if parsed and parsed.verb == verb and parsed.argument.startswith(argument):
                return component
    raise AssertionError(f"no {verb} {argument} control on the panel")


async def open_panel(
    discord: DiscordRig, command: str = "panel", user: dict[str, Any] = ALICE
) -> dict[str, Any]:
    if command == "panel":
        payload = discord.events.command("byok", [discord.events.sub("panel")], user=user)
    else:
        payload = discord.events.command(command, [], user=user)
    await discord.interact(payload)
    assert discord.callbacks(payload) == [{"type": 5, "data": {"flags": 64}}]
    [shown] = discord.fake.responses(payload["id"])
    assert shown["flags"] & 64  # ephemeral: its user alone sees it
    return shown


async def use(
    discord: DiscordRig,
    panel: dict[str, Any],
    component: dict[str, Any],
    values: list[str] | None = None,
    user: dict[str, Any] = ALICE,
) -> dict[str, Any]:
    """Click ``component`` (or choose ``values`` in it); the interaction's payload."""
    payload = discord.events.component(panel, component["custom_id"], values=values, user=user)
    await discord.interact(payload)
    return payload


def updated(discord: DiscordRig, panel: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The panel after ``payload`` edited it in place (UPDATE_MESSAGE)."""
    [callback] = discord.callbacks(payload)
    assert callback["type"] == 7
    return discord.fake.messages[panel["id"]]


async def test_the_panel_shows_the_settings_with_controls_within_discords_limits(
    discord: DiscordRig,
) -> None:
    await discord.add_key("openai", **{"Monthly limit (optional)": "20"})
    last4 = (await discord.engine.service(user_ref()).get_user_api_keys())[0].key.last4

    panel = await open_panel(discord)

    assert panel_text(panel) == "\n".join(
        [
            "# Your byok-bot settings",
            "## Your keys",
            KEYS_INTRO,
            "## openai",
            f"**Key:** …{last4}\n**Status:** active\n**Counted against the limit:** $0.00 of "
            "$20.00 (0%)\n**Last checked:** 2026-11-18 12:00 UTC",
            "## Preferences",
            prefs_text(),
            "## This month",
            MONTH,
            "<Default: not set (first usable key)>",
            "<Fallback: not set (your other keys)>",
            SWITCH_ROW,
            "<openai key>",
            "[Test] [Switch off] [Replace key] [Remove…] [Model…]",
        ]
    )
    assert not components_errors(panel["components"])
    ids = [c["custom_id"] for row in panel["components"] for c in row["components"]]
    assert all(len(i) <= 100 and f":{ALICE['id']}:" in i for i in ids)
    assert len(ids) == len(set(ids))
    # /settings is the same panel.
    assert panel_text(await open_panel(discord, "settings")) == panel_text(panel)


async def test_choosing_a_default_provider_updates_the_panel_in_place(
    discord: DiscordRig,
) -> None:
    panel = await open_panel(discord)

    payload = await use(discord, panel, control(panel, "default"), ["anthropic"])

    shown = updated(discord, panel, payload)
    text = panel_text(shown)
    assert text.splitlines()[0] == (
        "✅ Your default provider is now anthropic. You have no usable anthropic key yet: "
        "`/byok add anthropic`."
    )
    assert prefs_text(default="anthropic") in text
    assert "<Default: anthropic>" in text.splitlines()
    assert (await discord.engine.service(user_ref()).get_preferences()).default_provider == (
        "anthropic"
    )


async def test_a_toggle_turns_auto_switch_off_in_place(discord: DiscordRig) -> None:
    panel = await open_panel(discord)

    payload = await use(discord, panel, control(panel, "prefs"), ["auto-switch off"])

    text = panel_text(updated(discord, panel, payload))
    assert text.splitlines()[0] == "✅ `auto-switch` is now off."
    assert prefs_text(**{"auto-switch": "off"}) in text
    assert SWITCH_ROW.replace("auto-switch, ", "") in text.splitlines()
    assert not (await discord.engine.service(user_ref()).get_preferences()).auto_switch_provider


async def test_every_switch_is_a_control_and_the_cache_turns_on_and_off_in_place(
    discord: DiscordRig,
) -> None:
    panel = await open_panel(discord)
    switches = control(panel, "prefs")
    assert [o["label"] for o in switches["options"]] == SWITCH_OPTIONS
    assert [o["label"].split(":")[0] for o in switches["options"]] == [s.name for s in SWITCHES]
    [cache] = [o for o in switches["options"] if o["label"] == "cache: off"]
    assert (cache["value"], cache["description"]) == ("cache on", "Choose to turn it on")

    payload = await use(discord, panel, switches, [cache["value"]])

    shown = updated(discord, panel, payload)
    text = panel_text(shown)
    assert text.splitlines()[0] == "✅ `cache` is now on."
    assert prefs_text(cache="on") in text
    assert "<Switch on or off (on: auto-switch, quota-notices, digest, cache)>" in text
    assert (await discord.engine.service(user_ref()).get_preferences()).cache_answers
    assert not components_errors(shown["components"])
    [again] = [o for o in control(shown, "prefs")["options"] if o["label"] == "cache: on"]
    assert again["value"] == "cache off"

    payload = await use(discord, shown, control(shown, "prefs"), [again["value"]])

    text = panel_text(updated(discord, shown, payload))
    assert text.splitlines()[0] == "✅ `cache` is now off. Your cached answers were deleted."
    assert SWITCH_ROW in text.splitlines()
    assert not (await discord.engine.service(user_ref()).get_preferences()).cache_answers


async def test_add_key_opens_the_key_modal_and_the_key_shows_on_the_panel(
    discord: DiscordRig,
) -> None:
    panel = await open_panel(discord)
    assert panel_text(panel).splitlines()[-2:] == ["<openai key>", "[Add a key for openai]"]

    payload = await use(discord, panel, control(panel, "focus"), ["xai"])
    panel = updated(discord, panel, payload)
    assert panel_text(panel).splitlines()[-2:] == ["<xai key>", "[Add a key for xai]"]
    pressed = await use(discord, panel, control(panel, "add"))

    [opened] = discord.callbacks(pressed)
    assert opened["type"] == 9
    assert opened["data"]["custom_id"] == f"byok_key:xai:{ALICE['id']}"
    assert opened["data"]["title"] == "Add your xai API key"
    key = discord.engine.fakes.key("xai")
    submit = discord.events.modal_submit(opened["data"], {"API key": key}, message=panel)
    await discord.interact(submit)

    text = panel_text(updated(discord, panel, submit))
    assert text.splitlines()[:3] == [
        "✅ Key added",
        f"Stored your xai key …{key[-4:]}, encrypted.",
        "Checked with xai: labelled “test key” at the provider.",
    ]
    assert f"## xai\n**Key:** …{key[-4:]}\n**Status:** active\n" in text
    assert text.splitlines()[-2:] == [
        "<xai key>",
        "[Test] [Switch off] [Replace key] [Remove…] [Model…]",
    ]
    [stored] = await discord.engine.service(user_ref()).get_user_api_keys()
    assert stored.key.provider_id == "xai"


async def test_removing_a_key_asks_first_then_removes_it(discord: DiscordRig) -> None:
    await discord.add_key("xai")
    panel = await open_panel(discord)

    asked = await use(discord, panel, control(panel, "ask-remove"))

    panel = updated(discord, panel, asked)
    lines = panel_text(panel).splitlines()
    assert lines[0] == "⚠️ Remove your xai key for good? It is deleted, not switched off."
    assert lines[-1] == "[Yes, remove the xai key] [Cancel]"
    assert len(await discord.engine.service(user_ref()).get_user_api_keys()) == 1

    removed = await use(discord, panel, control(panel, "remove"))

    lines = panel_text(updated(discord, panel, removed)).splitlines()
    assert lines[0] == "✅ Removed your xai key. It is gone for good."
    assert lines[1:4] == ["# Your byok-bot settings", "## Your keys", lines[3]]
    assert lines[3].startswith("No keys yet.")
    assert lines[-2:] == ["<xai key>", "[Add a key for xai]"]
    assert await discord.engine.service(user_ref()).get_user_api_keys() == []


async def test_cancel_keeps_the_key(discord: DiscordRig) -> None:
    await discord.add_key("xai")
    panel = await open_panel(discord)
    panel = updated(discord, panel, await use(discord, panel, control(panel, "ask-remove")))

    cancelled = await use(discord, panel, control(panel, "show"))

    lines = panel_text(updated(discord, panel, cancelled)).splitlines()
    assert lines[0] == "# Your byok-bot settings"
    assert lines[-1] == "[Test] [Switch off] [Replace key] [Remove…] [Model…]"
    assert len(await discord.engine.service(user_ref()).get_user_api_keys()) == 1


async def test_another_users_forged_click_is_refused(discord: DiscordRig) -> None:
    await discord.add_key("xai")
    panel = await open_panel(discord)
    before = dict(discord.fake.messages[panel["id"]])

    # Bob cannot see Alice's ephemeral panel; he forges its "Yes, remove" button.
    forged = discord.events.component(panel, f"panel:{ALICE['id']}:xai:remove:xai", user=BOB)
    await discord.interact(forged)

    [refusal] = discord.callbacks(forged)
    assert refusal["type"] == 4 and refusal["data"]["flags"] == 64
    assert refusal["data"]["content"] == (
        "This panel isn't yours; open your own with `/byok panel`."
    )
    assert discord.fake.messages[panel["id"]] == before
    assert len(await discord.engine.service(user_ref()).get_user_api_keys()) == 1
    assert await discord.engine.service(user_ref(BOB)).get_user_api_keys() == []


async def test_a_slow_command_is_acknowledged_first_then_the_panel_is_edited(
    discord: DiscordRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interactions, "_FIRST_RESPONSE_BUDGET", 0.0)  # every command is slow
    panel = await open_panel(discord)

    payload = await use(discord, panel, control(panel, "prefs"), ["history on"])

    assert discord.callbacks(payload) == [{"type": 6}]
    text = panel_text(discord.fake.messages[panel["id"]])
    assert text.splitlines()[0] == "✅ `history` is now on."
    assert prefs_text(history="on") in text
    assert (await discord.engine.service(user_ref()).get_preferences()).store_conversation_history


async def test_an_outdated_control_asks_to_reopen_the_panel(discord: DiscordRig) -> None:
    panel = await open_panel(discord)
    stale = discord.events.component(panel, f"panel:{ALICE['id']}:openai:rename:x")

    await discord.interact(stale)

    [callback] = discord.callbacks(stale)
    assert callback["data"]["content"] == "This panel is out of date; run `/byok panel` again."


def _slack_facts(view: dict[str, Any]) -> dict[str, Any]:
    blocks = view["blocks"]
    texts = "\n".join(
        b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b
    ) + "\n".join(f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", []))
    selects = {
        b["accessory"]["action_id"].rsplit(":", 1)[1]: b["accessory"]["initial_option"]["value"]
        for b in blocks
        if b.get("accessory", {}).get("type") == "static_select"
    }
    switches = {
        b["text"]["text"].split("*")[1]: b["text"]["text"].split("*: ")[1].split("\n")[0]
        for b in blocks
        if b.get("accessory", {}).get("action_id", "").startswith("home:run:prefs:")
    }
    return {"texts": texts, "selects": selects, "switches": switches}


async def test_app_home_and_the_panel_show_the_same_facts(discord: DiscordRig) -> None:
    await discord.add_key("openai", **{"Monthly limit (optional)": "20"})
    await discord.add_key("xai")
    service = discord.engine.service(user_ref())
    await service.set_key_enabled("xai", False)
    await service.set_preferences(default_provider="openai", store_conversation_history=True)
    panel = await open_panel(discord)
    facts = await load_panel(discord.adapter.flows.dispatcher.ctx, user_ref())

    slack = _slack_facts(home_view(facts))
    discord_text = panel_text(panel)

    for status in facts.keys:
        masked = f"…{status.key.last4}"
        assert masked in slack["texts"] and masked in discord_text
    for fact in ("$0.00 of $20.00 (0%)", "active", "disabled", MONTH):
        assert fact in slack["texts"] and fact in discord_text
    assert slack["selects"] == {"default": "openai", "fallback": "off"}
    assert "<Default: openai>" in discord_text and "<Fallback: not set (your other keys)>" in (
        discord_text
    )
    shown_switches = dict(o["label"].split(": ") for o in control(panel, "prefs")["options"])
    assert shown_switches == slack["switches"]  # every one of them, on both platforms
    assert len(shown_switches) == len(SWITCHES) and shown_switches["history"] == "on"


async def test_the_model_button_sets_the_preferred_model_in_place(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    panel = await open_panel(discord)
    pressed = await use(discord, panel, control(panel, "model"))
    [opened] = discord.callbacks(pressed)
    assert opened["type"] == 9
    assert opened["data"]["title"] == "Preferred openai model"

    submit = discord.events.modal_submit(opened["data"], {"Model": "gpt-4o"}, message=panel)
    await discord.interact(submit)

    text = panel_text(updated(discord, panel, submit))
    assert text.splitlines()[0] == "✅ openai answers with gpt-4o unless you pass --model."
    assert "**preferred models:** openai: gpt-4o" in text
    prefs = await discord.engine.service(user_ref()).get_preferences()
    assert prefs.preferred_model("openai") == "gpt-4o"
    # Opened again, the form holds the choice; emptied, the default returns.
    again = await use(discord, panel, control(panel, "model"))
    [reopened] = discord.callbacks(again)
    assert reopened["data"]["components"][0]["component"]["value"] == "gpt-4o"
    cleared = discord.events.modal_submit(reopened["data"], {"Model": ""}, message=panel)
    await discord.interact(cleared)
    text = panel_text(updated(discord, panel, cleared))
    assert text.splitlines()[0] == "✅ openai uses its default model again."
    assert "**preferred models:** defaults" in text


async def test_another_user_cannot_submit_the_model_form(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    panel = await open_panel(discord)
    [opened] = discord.callbacks(await use(discord, panel, control(panel, "model")))

    forged = discord.events.modal_submit(opened["data"], {"Model": "gpt-4o"}, user=BOB)
    await discord.interact(forged)

    assert discord.callbacks(forged)[0]["data"]["content"] == "This form isn't yours."
    assert (await discord.engine.service(user_ref()).get_preferences()).preferred_models == {}


def test_every_control_id_fits_discords_100_characters_at_the_longest() -> None:
    owner, provider = 10**20 - 1, "p" * 32  # a 20-digit snowflake; operator ids are 1-32 chars
    base = PanelControl(owner, provider, "show")
    longest = [
        base.then(verb, argument)
        for verb, argument in [
            *((v, provider) for v in ("test", "enable", "disable", "remove")),
            *(("prefs", f"{s.name} off") for s in SWITCHES),
            ("ask-remove", ""),
        ]
    ]
    assert max(len(c.custom_id) for c in longest) <= 100
    assert all(PanelControl.parse(c.custom_id) == c for c in longest)


async def test_the_panel_names_providers_and_keeps_their_ids_as_values(
    make_discord: MakeDiscord,
) -> None:
    discord = await make_discord(
        rig_overrides={"display_names": dict(ProviderNames.builtin().names)}
    )
    await discord.add_key("xai")
    panel = await open_panel(discord)
    text = panel_text(panel)
    assert "## xAI Grok (`xai`)" in text.splitlines()
    assert "<xAI Grok key>" in text.splitlines()
    default = control(panel, "default")
    assert {"label": "Default: xAI Grok", "value": "xai"}.items() <= next(
        o for o in default["options"] if o["value"] == "xai"
    ).items()

    payload = await use(discord, panel, default, ["xai"])

    text = panel_text(updated(discord, panel, payload))
    assert text.splitlines()[0] == "✅ Your default provider is now xAI Grok."
    assert prefs_text(default="xAI Grok") in text
    assert "<Default: xAI Grok>" in text.splitlines()


async def test_the_panels_forms_name_the_provider(make_discord: MakeDiscord) -> None:
    discord = await make_discord(
        rig_overrides={"display_names": dict(ProviderNames.builtin().names)}
    )
    await discord.add_key("openai")
    panel = await open_panel(discord)

    [model_form] = discord.callbacks(await use(discord, panel, control(panel, "model")))
    assert model_form["data"]["title"] == "Preferred OpenAI model"
    payload = await use(discord, panel, control(panel, "focus"), ["xai"])
    panel = updated(discord, panel, payload)
    [key_form] = discord.callbacks(await use(discord, panel, control(panel, "add")))
    assert key_form["data"]["title"] == "Add your xAI Grok API key"
    assert key_form["data"]["custom_id"] == f"byok_key:xai:{ALICE['id']}"  # the id travels
