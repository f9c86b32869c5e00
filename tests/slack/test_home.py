"""App Home: the settings dashboard, and its controls running /byok commands in place."""

from __future__ import annotations

import json
from typing import Any

from bot.provider_names import ProviderNames
from tests.slack.conftest import USER, MakeSlack, SlackRig

OPENED = {"type": "app_home_opened", "user": USER, "channel": "D111", "tab": "home",
          "event_ts": "1.1"}  # fmt: skip


def _blocks(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def _find(view: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in view["blocks"]:
        for element in [block.get("accessory"), block.get("element"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no {action_id} in the view")


async def _home(slack: SlackRig) -> dict[str, Any]:
    await slack.event(OPENED)
    await slack.settle()
    return slack.fake.published[USER]


async def test_home_shows_keys_masked_with_spend_against_the_limit(slack: SlackRig) -> None:
    key = await slack.rig.add_key("openai", limit="20")
    slack.rig.fakes["openai"].reply(text="hi", input_tokens=1000, output_tokens=1000)
    await slack.rig.service().chat([{"role": "user", "content": "hi"}], provider="openai")

    view = await _home(slack)

    shown = _blocks(view)
    assert view["type"] == "home"
    assert f"…{key[-4:]}" in shown and key not in shown
    assert "active" in shown and "of $20.00" in shown
    assert "This month" in shown and "1 request since" in shown
    assert _find(view, "home:set:default")["initial_option"]["value"] == "off"
    assert _find(view, "home:run:test:openai")["value"] == "test openai"
    assert _find(view, "home:set:model:openai")["type"] == "plain_text_input"
    assert len(view["blocks"]) <= 100


async def test_choosing_a_default_provider_runs_byok_default(slack: SlackRig) -> None:
    await slack.rig.add_key("anthropic")
    view = await _home(slack)
    select = _find(view, "home:set:default")

    response = await slack.block_action(
        {"action_id": "home:set:default", "type": "static_select",
         "selected_option": {"value": "anthropic", "text": select["options"][0]["text"]}}
    )  # fmt: skip
    await slack.settle()

    assert response.status == 200
    assert (await slack.rig.service().get_preferences()).default_provider == "anthropic"
    view = slack.fake.published[USER]
    assert "Your default provider is now anthropic." in _blocks(view)
    assert _find(view, "home:set:default")["initial_option"]["value"] == "anthropic"


async def test_a_toggle_turns_history_on(slack: SlackRig) -> None:
    view = await _home(slack)
    button = _find(view, "home:run:prefs:history:on")

    await slack.block_action(
        {"action_id": button["action_id"], "type": "button", "value": button["value"]}
    )
    await slack.settle()

    assert (await slack.rig.service().get_preferences()).store_conversation_history
    assert _find(slack.fake.published[USER], "home:run:prefs:history:off")


async def test_a_model_typed_in_home_becomes_the_preferred_model(slack: SlackRig) -> None:
    await slack.rig.add_key("openai")
    await _home(slack)

    await slack.block_action(
        {"action_id": "home:set:model:openai", "type": "plain_text_input", "value": "gpt-4o"}
    )
    await slack.settle()

    prefs = await slack.rig.service().get_preferences()
    assert prefs.preferred_model("openai")
    assert _find(slack.fake.published[USER], "home:set:model:openai")["initial_value"]


async def test_removing_a_key_from_home(slack: SlackRig) -> None:
    await slack.rig.add_key("xai")
    view = await _home(slack)
    button = _find(view, "home:run:remove:xai")
    assert button["confirm"] and button["style"] == "danger"

    await slack.block_action(
        {"action_id": button["action_id"], "type": "button", "value": button["value"]}
    )
    await slack.settle()

    assert await slack.rig.service().get_user_api_keys() == []
    assert "Removed your xai key" in _blocks(slack.fake.published[USER])


async def test_adding_a_key_from_home_opens_the_form_and_refreshes_home(slack: SlackRig) -> None:
    await _home(slack)
    await slack.block_action({"action_id": "home:add_key", "type": "button"})
    await slack.settle()
    form = slack.last_view()
    assert form["callback_id"] == "byok_add_key"
    key = slack.rig.fakes.key("google")
    values: dict[str, dict[str, Any]] = {
        "provider": {"type": "static_select", "selected_option": {"value": "google"}},
        "key": {"type": "plain_text_input", "value": key},
        "label": {"type": "plain_text_input", "value": None},
        "limit": {"type": "plain_text_input", "value": None},
        "models": {"type": "plain_text_input", "value": None},
    }

    await slack.view_submission(form, values)
    await slack.settle()

    assert f"…{key[-4:]}" in _blocks(slack.fake.published[USER])


async def test_max_tokens_is_a_number_not_a_switch(slack: SlackRig) -> None:
    view = await _home(slack)
    assert "home:run:prefs:max-tokens:on" not in _blocks(view)

    await slack.block_action(
        {"action_id": "home:set:max-tokens", "type": "number_input", "value": "300"}
    )
    await slack.settle()

    assert (await slack.rig.service().get_preferences()).max_tokens_per_request == 300
    assert _find(slack.fake.published[USER], "home:set:max-tokens")["initial_value"] == "300"


async def test_the_dashboard_is_an_ordinary_command_for_other_adapters(slack: SlackRig) -> None:
    from bot.invocation import Invocation
    from bot.reply import collect

    inv = Invocation("console", "local", "me", "console", True, "home")
    _, reply = await collect(slack.adapter.runtime.dispatcher.run(inv))

    text = reply.plain_text()
    assert "Your keys" in text and "No keys yet" in text and "Preferences" in text
    assert "This month" in text


async def test_home_names_providers_and_keeps_their_ids_as_values(make_slack: MakeSlack) -> None:
    slack = await make_slack(rig_overrides={"display_names": dict(ProviderNames.builtin().names)})
    await slack.rig.add_key("xai")
    view = await _home(slack)

    shown = _blocks(view)
    assert "*xAI Grok (`xai`)*" in shown  # the key's heading: name and what to type
    select = _find(view, "home:set:default")
    assert {"text": {"type": "plain_text", "text": "xAI Grok", "emoji": True}, "value": "xai"} in (
        select["options"]
    )
    remove = _find(view, "home:run:remove:xai")
    assert remove["value"] == "remove xai"
    assert remove["confirm"]["text"]["text"] == "Remove your xAI Grok key for good?"
    [model] = [b for b in view["blocks"] if b.get("block_id") == "home:model:xai"]
    assert model["label"]["text"] == "xAI Grok model"

    await slack.block_action(
        {"action_id": "home:set:default", "type": "static_select",
         "selected_option": {"value": "xai", "text": select["options"][4]["text"]}}
    )  # fmt: skip
    await slack.settle()
    view = slack.fake.published[USER]
    assert "Your default provider is now xAI Grok." in _blocks(view)
    assert _find(view, "home:set:default")["initial_option"] == {
        "text": {"type": "plain_text", "text": "xAI Grok", "emoji": True},
        "value": "xai",
    }
