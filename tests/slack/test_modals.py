"""The /byok add key form and the /summarize form: opening, validating, never echoing a key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from adapters.slack.modals import key_form
from bot.provider_names import ProviderNames
from bot.reply import SecretRequest
from byok.db.tables import UserApiKey
from tests.fakes.loopback import Fault
from tests.slack.conftest import CHANNEL, USER, MakeSlack, SlackRig, assert_nowhere


def _select(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value}}


def _text(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def _form(provider: str, key: str, **optional: str | None) -> dict[str, dict[str, Any]]:
    values = {"provider": _select(provider), "key": _text(key)}
    for name in ("label", "limit", "models"):
        values[name] = _text(optional.get(name))
    return values


def _blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b.get("block_id", ""): b for b in view["blocks"]}


async def _open_form(slack: SlackRig, text: str = "add") -> dict[str, Any]:
    await slack.command("/byok", text)
    await slack.settle()
    return slack.last_view()


async def test_byok_add_opens_a_private_form_with_a_provider_picker(slack: SlackRig) -> None:
    view = await _open_form(slack)

    blocks = _blocks(view)
    assert view["callback_id"] == "byok_add_key"
    picker = blocks["provider"]["element"]
    assert [o["value"] for o in picker["options"]] == list(slack.rig.engine.catalog.ids)
    assert "initial_option" not in picker
    assert blocks["key"]["element"]["type"] == "plain_text_input"
    assert {"label", "limit", "models"} <= set(blocks)
    assert all(blocks[b]["optional"] for b in ("label", "limit", "models"))
    assert not slack.fake.calls_to("chat.postMessage")


async def test_byok_add_with_options_fills_the_form_in(slack: SlackRig) -> None:
    view = await _open_form(slack, "add grok --limit 20 --label work --models grok-3,grok-4")

    blocks = _blocks(view)
    assert blocks["provider"]["element"]["initial_option"]["value"] == "xai"
    assert blocks["limit"]["element"]["initial_value"] == "20"
    assert blocks["label"]["element"]["initial_value"] == "work"
    assert blocks["models"]["element"]["initial_value"] == "grok-3, grok-4"


async def test_a_valid_key_is_stored_and_the_form_says_so(
    slack: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    view = await _open_form(slack)
    key = slack.rig.fakes.key("anthropic")

    response = await slack.view_submission(view, _form("anthropic", key, limit="15", label="me"))
    await slack.settle()

    body = json.loads(response.body)
    assert body["response_action"] == "update"
    shown = json.dumps(body["view"], ensure_ascii=False)
    assert f"…{key[-4:]}" in shown and "$15.00" in shown
    async with slack.rig.engine.database.session() as session:
        (row,) = (await session.scalars(select(UserApiKey))).all()
    assert row.provider == "anthropic" and key.encode() not in row.encrypted_key
    assert_nowhere(key, slack.fake, caplog, response.body)


async def test_a_refused_key_shows_why_on_the_key_field_and_is_never_echoed(
    slack: SlackRig, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    view = await _open_form(slack)

    response = await slack.view_submission(view, _form("openai", canary_key))
    await slack.settle()

    body = json.loads(response.body)
    assert body == {
        "response_action": "errors",
        "errors": {"key": "openai refused this key: it is not a valid key. Nothing was stored."},
    }
    async with slack.rig.engine.database.session() as session:
        assert (await session.scalars(select(UserApiKey))).all() == []
    assert_nowhere(canary_key, slack.fake, caplog, response.body)


async def test_form_mistakes_are_shown_on_their_fields(slack: SlackRig) -> None:
    view = await _open_form(slack)
    values = _form("", "", limit="lots")
    values["provider"] = {"type": "static_select", "selected_option": None}

    response = await slack.view_submission(view, values)

    errors = json.loads(response.body)["errors"]
    assert set(errors) == {"provider", "key", "limit"}
    assert "US dollars" in errors["limit"]


async def test_a_slow_provider_check_keeps_the_user_informed(
    make_slack: MakeSlack, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    slack = await make_slack(submit_wait_s=0.0)
    caplog.set_level("DEBUG")
    view = await _open_form(slack)

    response = await slack.view_submission(view, _form("openai", canary_key, label="x"))
    body = json.loads(response.body)
    assert body["response_action"] == "update"
    assert "Checking your openai key" in json.dumps(body["view"])
    await slack.settle()

    (update,) = slack.fake.calls_to("views.update")
    assert update.args["view_id"] == view["id"]
    again = update.args["view"]
    assert again["callback_id"] == "byok_add_key"  # the form again, with the refusal
    assert "openai refused this key" in json.dumps(again)
    assert "initial_value" not in _blocks(again)["key"]["element"]
    assert _blocks(again)["label"]["element"]["initial_value"] == "x"
    assert_nowhere(canary_key, slack.fake, caplog, response.body)


async def test_an_expired_trigger_is_explained(slack: SlackRig) -> None:
    slack.fake.fail("views.open", "expired_trigger_id")

    await slack.command("/byok", "add")
    await slack.settle()

    (told,) = slack.fake.responses
    assert told["response_type"] == "ephemeral" and "Please try again" in told["text"]


async def test_a_key_typed_in_a_channel_command_is_refused_and_goes_nowhere(
    slack: SlackRig, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.command("/byok", f"add openai {canary_key}")
    await slack.settle()

    told = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert "Never paste an API key in a shared channel" in json.dumps(told["blocks"])
    assert not slack.fake.calls_to("views.open")
    assert not slack.rig.fakes["openai"].requests
    assert_nowhere(canary_key, slack.fake, caplog)


async def test_summarize_opens_a_form_capped_at_slacks_limit(slack: SlackRig) -> None:
    await slack.command("/summarize")
    await slack.settle()

    view = slack.last_view()
    field = _blocks(view)["transcript"]
    assert field["element"]["max_length"] == 3000 and field["element"]["multiline"]
    assert "share the .txt, .vtt or .srt file" in field["hint"]["text"]


async def test_a_summarize_form_posts_the_summary_to_the_channel(slack: SlackRig) -> None:
    await slack.add_key("openai")
    await slack.command("/summarize")
    await slack.settle()
    view = slack.last_view()
    summary = {
        "overview": "Release planning.",
        "decisions": ["Ship on Friday"],
        "action_items": [{"task": "Update docs", "owner": "Bob", "due": "Thursday"}],
        "open_questions": [],
    }
    slack.rig.fakes["openai"].reply(text=json.dumps(summary))

    transcript = "Alice: We ship on Friday.\nBob: I'll update the docs by Thursday."
    response = await slack.view_submission(
        view, {"transcript": _text(transcript), "provider": _select("openai")}
    )
    await slack.settle()

    assert response.status == 200 and response.body == ""
    shown = slack.fake.texts(CHANNEL)[0]
    assert "Meeting summary" in shown and "Ship on Friday" in shown and "Update docs — Bob" in shown
    assert f"<@{USER}>" in shown


async def test_a_provider_outage_during_a_key_check_is_explained(slack: SlackRig) -> None:
    view = await _open_form(slack)
    slack.rig.fakes["openai"].inject(Fault.http(503), path="/models")

    response = await slack.view_submission(view, _form("openai", slack.rig.fakes.key("openai")))

    error = json.loads(response.body)["errors"]["key"]
    assert "check the key" in error and "Nothing was stored" in error


async def test_with_production_acknowledgement_the_form_still_shows_refusals(
    make_slack: MakeSlack, canary_key: str
) -> None:
    """process_before_response=False: bolt answers Slack as soon as a listener acks."""
    slack = await make_slack(process_before_response=False)
    await slack.command("/byok", "add")
    await slack.fake.wait_for(lambda: slack.fake.opened)
    view = slack.last_view()

    response = await slack.view_submission(view, _form("openai", canary_key))

    assert json.loads(response.body)["errors"]["key"].startswith("openai refused this key")


async def test_a_slow_check_whose_form_was_closed_is_answered_by_dm(
    make_slack: MakeSlack, canary_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    slack = await make_slack(submit_wait_s=0.0)
    caplog.set_level("DEBUG")
    view = await _open_form(slack)
    slack.fake.fail("views.update", "not_found")  # the user closed "checking…"

    response = await slack.view_submission(view, _form("openai", canary_key))
    await slack.settle()

    assert "Checking your openai key" in json.dumps(json.loads(response.body)["view"])
    assert [c.args["users"] for c in slack.fake.calls_to("conversations.open")] == [USER]
    (shown,) = slack.fake.texts("D" + USER.lstrip("U"))  # the user's DM with the bot
    assert "after its form was closed" in shown and "openai refused this key" in shown
    assert_nowhere(canary_key, slack.fake, caplog, response.body)


async def test_a_slow_check_from_home_refreshes_home_once_the_key_is_stored(
    make_slack: MakeSlack,
) -> None:
    slack = await make_slack(submit_wait_s=0.0)
    await slack.block_action({"action_id": "home:add_key", "type": "button"})
    await slack.settle()
    form = slack.last_view()
    key = slack.rig.fakes.key("openai")

    await slack.view_submission(form, _form("openai", key))
    await slack.settle()

    methods = [c.method for c in slack.fake.calls if c.method in ("views.update", "views.publish")]
    assert methods == ["views.update", "views.publish"]  # Home after the check, not before
    assert "Checking your openai key" not in json.dumps(slack.fake.views[form["id"]])
    assert f"…{key[-4:]}" in json.dumps(slack.fake.published[USER], ensure_ascii=False)


async def test_a_summary_where_the_bot_is_not_a_member_keeps_the_transcript(
    slack: SlackRig,
) -> None:
    """The pasted transcript is not lost: the summary comes through the command's response_url."""
    await slack.add_key("openai")
    await slack.command("/summarize")
    await slack.settle()
    summary = {
        "overview": "Release planning.",
        "decisions": ["Ship on Friday"],
        "action_items": [],
        "open_questions": [],
    }
    slack.rig.fakes["openai"].reply(text=json.dumps(summary))
    slack.fake.fail("chat.postMessage", "not_in_channel")

    transcript = "Alice: We ship on Friday.\nBob: Fine."
    await slack.view_submission(
        slack.last_view(), {"transcript": _text(transcript), "provider": _select("openai")}
    )
    await slack.settle()

    (answer,) = slack.fake.responses
    shown = json.dumps(answer["blocks"])
    assert answer["response_type"] == "in_channel"
    assert "Meeting summary" in shown and "Ship on Friday" in shown
    assert "/invite <@U0BOT>" in shown


async def test_the_forms_name_providers_and_send_their_ids(
    make_slack: MakeSlack, canary_key: str
) -> None:
    names = dict(ProviderNames.builtin().names)
    slack = await make_slack(submit_wait_s=0.0, rig_overrides={"display_names": names})
    view = await _open_form(slack, "add grok")
    picker = _blocks(view)["provider"]["element"]
    assert [(o["text"]["text"], o["value"]) for o in picker["options"]] == [
        ("OpenAI", "openai"),
        ("Anthropic", "anthropic"),
        ("Google Gemini", "google"),
        ("xAI Grok", "xai"),
        ("OpenRouter", "openrouter"),
    ]
    assert picker["initial_option"] == {
        "text": {"type": "plain_text", "text": "xAI Grok", "emoji": True},
        "value": "xai",
    }
    slack.fake.fail("views.update", "not_found")  # the user closes "checking…"

    response = await slack.view_submission(view, _form("xai", canary_key))
    await slack.settle()

    [checking] = json.loads(response.body)["view"]["blocks"]
    assert checking["text"]["text"] == (
        ":hourglass_flowing_sand: Checking your xAI Grok key with xAI Grok…"
    )
    (shown,) = slack.fake.texts("D" + USER.lstrip("U"))
    assert "The check of the xAI Grok key you submitted finished after its form was closed:" in (
        shown
    )
    assert "xAI Grok refused this key: it is not a valid key. Nothing was stored." in shown

    await slack.command("/summarize")
    await slack.settle()
    provider = _blocks(slack.last_view())["provider"]["element"]
    assert [(o["text"]["text"], o["value"]) for o in provider["options"]][2:4] == [
        ("Google Gemini", "google"),
        ("xAI Grok", "xai"),
    ]


def test_a_form_shows_an_operators_name_cut_to_slacks_option_limit() -> None:
    long = "Office Llama, served from the basement rack beside the coffee machine, floor 2"
    names = ProviderNames({"local": long, "openai": "OpenAI"})
    form = key_form(("openai", "local"), SecretRequest("local"), {}, names=names)
    picker = _blocks(form)["provider"]["element"]
    assert [(o["text"]["text"], o["value"]) for o in picker["options"]] == [
        ("OpenAI", "openai"),
        (long[:75], "local"),
    ]
    assert picker["initial_option"]["value"] == "local"
