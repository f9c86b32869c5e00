"""Slash commands: the command table's rows that Slack offers as slash commands.

Each is acknowledged at once (Slack allows 3 seconds) with an empty answer; the work runs
after. ``/ask`` and ``/summarize`` answer for the channel: a "working on it" message
appears at once and grows into the answer (where the bot may not post, the finished
answer comes through the command's ``response_url``): the table marks them public.
Everything else is shown to the user alone.

Slack never sends a slash command again (an unacknowledged one shows the user an error
instead), so, unlike events, commands need no check against a second delivery.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.delivery import Target
from adapters.slack.modals import key_form, open_view, summarize_form
from adapters.slack.render import escape
from adapters.slack.runtime import Runtime, invocation
from bot.commands.spec import SlashCommand
from bot.commands.table import COMMAND_TABLE
from bot.lookup import contains_key
from bot.reply import SecretRequest

__all__ = ["PUBLIC_COMMANDS", "SLASH_COMMANDS", "register"]

SLASH_COMMANDS = tuple(f"/{c.name}" for c in COMMAND_TABLE if isinstance(c.slack, SlashCommand))
#: Commands whose answer is for everyone in the channel.
PUBLIC_COMMANDS = frozenset(c.name for c in COMMAND_TABLE if c.public)
_HEADER_CHARS = 300


def _header(user: str, name: str, text: str) -> str:
    if name == "summarize" or contains_key(text):
        return f"<@{user}> `/{name}`"
    shown = text if len(text) <= _HEADER_CHARS else text[:_HEADER_CHARS] + "…"
    return f"<@{user}> `/{name}` {escape(shown)}"


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def on_command(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        name = str(command["command"]).lstrip("/").lower()
        target = Target(
            channel=command["channel_id"],
            user=command["user_id"],
            team=command.get("team_id") or context.team_id,
            private=_is_dm(command),
            response_url=command.get("response_url"),
        )
        runtime.spawn(
            _run(runtime, client, command, target, context.bot_user_id),
            what=f"/{name}",
            on_failure=runtime.failure_reporter(client, target, context.bot_user_id),
        )

    for name in SLASH_COMMANDS:
        app.command(name)(on_command)


def _is_dm(command: dict[str, Any]) -> bool:
    channel = str(command["channel_id"])
    return command.get("channel_name") == "directmessage" or channel.startswith("D")


async def _run(
    runtime: Runtime,
    client: AsyncWebClient,
    command: dict[str, Any],
    target: Target,
    bot_user_id: str | None,
) -> None:
    name = str(command["command"]).lstrip("/").lower()
    text = str(command.get("text") or "").strip()
    team = target.team or ""
    trigger = str(command.get("trigger_id") or "")
    origin = {
        "channel": target.channel,
        "team": team,
        "private": target.private,
        "response_url": target.response_url,
    }
    # Forms first: a trigger_id is only good for about 3 seconds.
    if name == "byok" and text.lower() == "add":
        form = key_form(runtime.provider_ids, None, origin, names=runtime.provider_names)
        await open_view(runtime, client, trigger, form, target, bot_user_id)
        return
    if name == "summarize" and not text:
        form = summarize_form(runtime.provider_ids, origin, names=runtime.provider_names)
        await open_view(runtime, client, trigger, form, target, bot_user_id)
        return

    async def open_secret(request: SecretRequest) -> None:
        form = key_form(runtime.provider_ids, request, origin, names=runtime.provider_names)
        await open_view(runtime, client, trigger, form, target, bot_user_id)

    adding_key = name == "byok" and text.lower().startswith("add ")
    in_bot_dm = (
        target.private
        and not adding_key  # the form must open fast; its answers are private anyway
        and await runtime.bot_dm(client, team, target.user) == target.channel
    )
    public = not target.private and name in PUBLIC_COMMANDS
    target = replace(
        target,
        in_bot_dm=in_bot_dm,
        header=_header(target.user, name, text) if public else None,
        placeholder=texts.working_on(target.user, name) if public else None,
    )
    inv = invocation(
        team=team,
        user=target.user,
        channel=target.channel,
        private=target.private,
        command=name,
        text=text,
        thread=target.channel if in_bot_dm else None,
        user_name=command.get("user_name"),
    )
    await runtime.deliver(client, target, inv, bot_user_id=bot_user_id, open_secret=open_secret)
