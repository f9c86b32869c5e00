"""App Home: the settings dashboard, built from the platform-neutral ``/home`` reply.

Keys show masked with status and month-to-date spend against the limit, each with
buttons to test, switch off/on or remove it; preferences are selects, buttons and inputs
that change in place. Every control runs an ordinary ``/byok`` command as the user, so
the dashboard can do nothing the commands cannot; the outcome is shown at the top.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
from bot.commands.home import KEYS_TITLE, PREFERENCES_TITLE
from bot.commands.prefs import PREFERENCES
from bot.grammar import CommandError
from bot.reply import Reply, Section, collect

__all__ = ["home_view", "publish", "register"]

Block = dict[str, Any]

_RUN = "home:run:"  # a button whose value is the /byok command to run
_HOME_BLOCKS = 100  # Slack's cap for a Home tab
_HELP = {p.name: p.help for p in PREFERENCES}


def _is_switch(name: str, parse: Callable[[str, str], object]) -> bool:
    try:
        return parse(name, "on") is True
    except CommandError:
        return False


#: The on/off preferences, shown as buttons (the others take a value).
_SWITCHES = frozenset(p.name for p in PREFERENCES if _is_switch(p.name, p.parse))
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


def _fields(section: Section) -> dict[str, str]:
    return {f.label: f.value for f in section.fields}


def _key_blocks(section: Section) -> list[Block]:
    provider = section.title or ""
    status = _fields(section).get("Status", "")
    toggle = (
        _button("Switch on", f"enable {provider}")
        if status.startswith("disabled")
        else _button("Switch off", f"disable {provider}")
    )
    remove = _button(
        "Remove",
        f"remove {provider}",
        style="danger",
        confirm=f"Remove your {escape(provider)} key for good?",
    )
    actions = {"type": "actions", "elements": [_button("Test", f"test {provider}"), toggle, remove]}
    return [*section_blocks(section), actions]


def _option(value: str, label: str | None = None) -> dict[str, Any]:
    return {"text": _plain(label or value), "value": value}


def _provider_select(action: str, label: str, current: str, providers: tuple[str, ...]) -> Block:
    options = [_option(_NOT_SET, "not set"), *(_option(p) for p in providers)]
    chosen = current if current in providers else _NOT_SET
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"*{label}*"},
        "accessory": {
            "type": "static_select",
            "action_id": f"home:set:{action}",
            "options": options,
            "initial_option": _option(chosen, None if chosen != _NOT_SET else "not set"),
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


def _preference_blocks(
    section: Section, keyed: list[str], providers: tuple[str, ...]
) -> list[Block]:
    fields = _fields(section)
    blocks: list[Block] = [{"type": "header", "text": _plain(section.title or PREFERENCES_TITLE)}]
    blocks.append(
        _provider_select(
            "default", "Default provider", fields.get("default provider", ""), providers
        )
    )
    blocks.append(
        _provider_select(
            "fallback", "Fallback provider", fields.get("fallback provider", ""), providers
        )
    )
    for name, value in fields.items():
        if name not in _SWITCHES:
            continue
        flip = "off" if value == "on" else "on"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{name}*: {value}\n{escape(_HELP[name])}"},
                "accessory": _button(f"Turn {flip}", f"prefs {name} {flip}"),
            }
        )
    tokens = fields.get("max-tokens", "off")
    blocks.append(
        _text_input(
            "max-tokens", "Max tokens per answer", tokens if tokens.isdigit() else None, number=True
        )
    )
    chosen = dict(
        pair.split(": ", 1)
        for pair in fields.get("preferred models", "").split(", ")
        if ": " in pair
    )
    for provider in keyed:
        blocks.append(_text_input(f"model:{provider}", f"{provider} model", chosen.get(provider)))
    return blocks


def home_view(
    reply: Reply, providers: tuple[str, ...], notice: Reply | None = None
) -> dict[str, Any]:
    """The Home tab for the ``/home`` reply, with ``notice`` (the last action's outcome) on top."""
    blocks: list[Block] = [{"type": "header", "text": _plain(reply.title or "Settings")}]
    if notice is not None:
        icon = {"error": ":x:", "warning": ":warning:", "success": ":white_check_mark:"}.get(
            notice.tone, ":information_source:"
        )
        text = mrkdwn(notice.plain_text())[:2900]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {text}"}})
    keyed = [s.title for s in reply.sections if s.title in providers and s.fields]
    for section in reply.sections:
        if section.title == KEYS_TITLE:
            blocks.append({"type": "divider"})
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"*{escape(KEYS_TITLE)}*\n{mrkdwn(section.text or '')}",
                    },
                    "accessory": {
                        "type": "button",
                        "text": _plain("Add a key"),
                        "action_id": "home:add_key",
                        "style": "primary",
                    },
                }
            )
        elif section.title in providers and section.fields:
            blocks.extend(_key_blocks(section))
        elif section.title == PREFERENCES_TITLE:
            blocks.append({"type": "divider"})
            blocks.extend(_preference_blocks(section, [k for k in keyed if k], providers))
        else:
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
    if reply.tone == "error":
        # The dashboard itself failed (database down...): show why instead.
        notice, reply = reply, Reply(title="Your byok-bot settings")
    await client.views_publish(user_id=user, view=home_view(reply, runtime.provider_ids, notice))


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
            runtime.provider_ids, None, {"channel": "app_home", "team": team, "home": True}
        )
        runtime.spawn(
            _open_key_form(runtime, client, str(body["trigger_id"]), form, team, user),
            what="App Home add key",
        )

    app.event("app_home_opened")(on_opened)
    app.action("home:add_key")(on_add_key)
    app.action(re.compile(r"^home:(run|set):"))(on_action)
