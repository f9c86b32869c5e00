"""App Home: the settings dashboard, drawn from :class:`bot.panel.PanelFacts`.

Keys show masked with status and month-to-date spend against the limit, each with
buttons to test, switch off/on or remove it; preferences are selects, buttons and inputs
that change in place. Every control runs an ordinary ``/byok`` command as the user, so
the dashboard can do nothing the commands cannot; the outcome is shown at the top.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.modals import key_form
from adapters.slack.render import context_block, escape, mrkdwn, section_blocks
from adapters.slack.runtime import Runtime, invocation
from bot.commands.keys import key_section
from bot.commands.prefs import PREFERENCES
from bot.panel import KEYS_TITLE, PANEL_TITLE, PREFERENCES_TITLE, SWITCHES, PanelFacts, PanelReply
from bot.provider_names import ProviderNames
from bot.reply import Reply, collect
from byok.service import KeyStatus

__all__ = ["home_view", "publish", "register"]

Block = dict[str, Any]

_RUN = "home:run:"  # a button whose value is the /byok command to run
_HOME_BLOCKS = 100  # Slack's cap for a Home tab
_HELP = {p.name: p.help for p in PREFERENCES}
_NOT_SET = "off"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75], "emoji": True}


def _button(
    text: str, command: str, *, style: str | None = None, confirm: str | None = None
) -> Block:
    button: Block = {
        "type": "button",
        "text": _plain(text),
        "action_id": _RUN + command.replace(" ", ":"),
        "value": command,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = {
            "title": _plain("Are you sure?"),
            "text": {"type": "mrkdwn", "text": confirm},
            "confirm": _plain("Yes"),
            "deny": _plain("No"),
        }
    return button


def _key_blocks(status: KeyStatus, names: ProviderNames) -> list[Block]:
    provider = status.key.provider_id
    toggle = (
        _button("Switch off", f"disable {provider}")
        if status.key.is_active
        else _button("Switch on", f"enable {provider}")
    )
    remove = _button(
        "Remove",
        f"remove {provider}",
        style="danger",
        confirm=f"Remove your {escape(names.label(provider))} key for good?",
    )
    actions = {"type": "actions", "elements": [_button("Test", f"test {provider}"), toggle, remove]}
    return [*section_blocks(key_section(status, names)), actions]


def _option(value: str, label: str | None = None) -> dict[str, Any]:
    return {"text": _plain(label or value), "value": value}


def _provider_select(action: str, label: str, current: str | None, facts: PanelFacts) -> Block:
    """A select showing providers by name; its values are the ids the command takes."""
    name = facts.names.label
    options = [_option(_NOT_SET, "not set"), *(_option(p, name(p)) for p in facts.providers)]
    chosen = current if current in facts.providers else _NOT_SET
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"*{label}*"},
        "accessory": {
            "type": "static_select",
            "action_id": f"home:set:{action}",
            "options": options,
            "initial_option": _option(chosen, "not set" if chosen == _NOT_SET else name(chosen)),
        },
    }


def _text_input(action: str, label: str, initial: str | None, *, number: bool = False) -> Block:
    element: Block = (
        {"type": "number_input", "is_decimal_allowed": False, "min_value": "1"}
        if number
        else {"type": "plain_text_input", "placeholder": _plain("provider default")}
    )
    element["action_id"] = f"home:set:{action}"
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "dispatch_action": True,
        "block_id": f"home:{action}",
        "label": _plain(label),
        "element": element,
        "hint": _plain("Press Enter to save; empty to clear."),
        "optional": True,
    }


def _preference_blocks(facts: PanelFacts) -> list[Block]:
    prefs = facts.prefs
    blocks: list[Block] = [{"type": "header", "text": _plain(PREFERENCES_TITLE)}]
    blocks.append(_provider_select("default", "Default provider", prefs.default_provider, facts))
    blocks.append(_provider_select("fallback", "Fallback provider", prefs.fallback_provider, facts))
    for switch in SWITCHES:
        value = switch.show(prefs)
        flip = "off" if facts.switch(switch) else "on"
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{switch.name}*: {value}\n{escape(_HELP[switch.name])}",
                },
                "accessory": _button(f"Turn {flip}", f"prefs {switch.name} {flip}"),
            }
        )
    tokens = prefs.max_tokens_per_request
    blocks.append(
        _text_input(
            "max-tokens", "Max tokens per answer", str(tokens) if tokens else None, number=True
        )
    )
    for provider in facts.keyed_providers:
        blocks.append(
            _text_input(
                f"model:{provider}",
                f"{facts.names.label(provider)} model",
                prefs.preferred_model(provider),
            )
        )
    return blocks


def _keys_blocks(facts: PanelFacts) -> list[Block]:
    blocks: list[Block] = [
        {"type": "divider"},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{escape(KEYS_TITLE)}*\n{mrkdwn(facts.keys_text)}",
            },
            "accessory": {
                "type": "button",
                "text": _plain("Add a key"),
                "action_id": "home:add_key",
                "style": "primary",
            },
        },
    ]
    for status in facts.keys:
        blocks.extend(_key_blocks(status, facts.names))
    return blocks


def home_view(facts: PanelFacts | None, notice: Reply | None = None) -> dict[str, Any]:
    """The Home tab showing ``facts``, with ``notice`` (the last action's outcome) on top.

    Without facts (the dashboard itself could not be read) it shows the notice alone.
    """
    blocks: list[Block] = [{"type": "header", "text": _plain(PANEL_TITLE)}]
    if notice is not None:
        icon = {"error": ":x:", "warning": ":warning:", "success": ":white_check_mark:"}.get(
            notice.tone, ":information_source:"
        )
        text = mrkdwn(notice.plain_text())[:2900]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {text}"}})
    if facts is not None:
        blocks.extend(_keys_blocks(facts))
        blocks.append({"type": "divider"})
        blocks.extend(_preference_blocks(facts))
        for section in facts.usage_sections():
            if section.title and not section.fields and not section.bullets:
                blocks.append({"type": "divider"})
            blocks.extend(section_blocks(section))
    blocks.append(
        context_block("Everything here can also be done with `/byok` — try `/help byok`.")
    )
    if len(blocks) > _HOME_BLOCKS:
        blocks = [
            *blocks[: _HOME_BLOCKS - 1],
            context_block("… more in `/usage` and `/byok list`."),
        ]
    return {"type": "home", "blocks": blocks}


async def publish(
    runtime: Runtime, client: AsyncWebClient, team: str, user: str, notice: Reply | None = None
) -> None:
    inv = invocation(team=team, user=user, channel="app_home", private=True, command="home")
    _, reply = await collect(runtime.dispatcher.run(inv))
    facts = reply.facts if isinstance(reply, PanelReply) else None
    if facts is None:
        notice = reply  # the dashboard itself failed (database down...): show why instead
    await client.views_publish(user_id=user, view=home_view(facts, notice))


def _command_for(action: dict[str, Any]) -> str | None:
    action_id = str(action.get("action_id") or "")
    if action_id.startswith(_RUN):
        return str(action.get("value") or "").strip() or None
    name = action_id.removeprefix("home:set:")
    if name in ("default", "fallback"):
        option = action.get("selected_option") or {}
        return f"{name} {option.get('value') or _NOT_SET}"
    value = str(action.get("value") or "").strip() or _NOT_SET
    if name == "max-tokens":
        return f"prefs max-tokens {value}"
    if name.startswith("model:"):
        return f"prefs model {name.removeprefix('model:')} {value.split()[0]}"
    return None


async def _open_key_form(
    runtime: Runtime,
    client: AsyncWebClient,
    trigger_id: str,
    form: dict[str, Any],
    team: str,
    user: str,
) -> None:
    try:
        await client.views_open(trigger_id=trigger_id, view=form)
    except SlackApiError as exc:
        notice = Reply(tone="error", text=texts.api_error_text(texts.slack_error_code(exc)))
        await publish(runtime, client, team, user, notice=notice)


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def refresh(client: AsyncWebClient, team: str, user: str) -> None:
        await publish(runtime, client, team, user)

    runtime.home_publisher = refresh

    async def on_opened(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("tab", "home") == "home":
            runtime.spawn(
                refresh(client, str(context.team_id or ""), str(event["user"])), what="App Home"
            )

    async def run_and_show(client: AsyncWebClient, team: str, user: str, text: str) -> None:
        inv = invocation(
            team=team, user=user, channel="app_home", private=True, command="byok", text=text
        )
        _, reply = await collect(runtime.dispatcher.run(inv))
        await publish(runtime, client, team, user, notice=reply)

    async def on_action(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        command = _command_for(body["actions"][0])
        if command:
            team, user = str(context.team_id or ""), str(body["user"]["id"])
            runtime.spawn(
                run_and_show(client, team, user, command),
                what=f"App Home /byok {command.split()[0]}",
            )

    async def on_add_key(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        team, user = str(context.team_id or ""), str(body["user"]["id"])
        form = key_form(
            runtime.provider_ids,
            None,
            {"channel": "app_home", "team": team, "home": True},
            names=runtime.provider_names,
        )
        runtime.spawn(
            _open_key_form(runtime, client, str(body["trigger_id"]), form, team, user),
            what="App Home add key",
        )

    app.event("app_home_opened")(on_opened)
    app.action("home:add_key")(on_add_key)
    app.action(re.compile(r"^home:(run|set):"))(on_action)
