"""The ``/byok add`` key modal and the ``/summarize`` transcript modal.

A key is checked with its provider on submit. Slack wants an answer to a submission
within 3 seconds: a check that finishes in time shows a refusal on the key field
(``response_action=errors``, the modal stays open); a slower one turns the modal into
"checking…" and updates it when the provider answers (App Home is refreshed then, once
the key is stored); if the user closed the form meanwhile, the result comes by DM. The
key is never written back into any view, message or log.

Slack never sends a view submission again (an unacknowledged one shows an error in the
form), so, unlike events, submissions need no check against a second delivery.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.delivery import Target
from adapters.slack.render import escape, mrkdwn, render_reply
from adapters.slack.runtime import Runtime, invocation
from bot.bounds import LABEL_MAX_CHARS, MONTHLY_LIMIT_MAX_USD, MONTHLY_LIMIT_MIN_USD
from bot.commands.keys import parse_usd
from bot.grammar import CommandError
from bot.provider_names import ProviderNames
from bot.reply import Reply, SecretRequest

__all__ = [
    "KEY_CALLBACK",
    "SUMMARIZE_CALLBACK",
    "key_form",
    "open_view",
    "register",
    "summarize_form",
]

log = logging.getLogger(__name__)

KEY_CALLBACK = "byok_add_key"
SUMMARIZE_CALLBACK = "byok_summarize"
TRANSCRIPT_CHARS = 3000  # Slack's cap for one plain_text_input

Block = dict[str, Any]


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _input(
    block_id: str, label: str, element: Block, *, optional: bool = False, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": _text(label),
        "element": {**element, "action_id": "value"},
        "optional": optional,
    }
    if hint:
        block["hint"] = _text(hint)
    return block


def _option(provider_id: str, names: ProviderNames) -> dict[str, Any]:
    """A provider as a select shows it: its name (Slack shows at most 75 characters of an
    option), with its id as the value sent back."""
    return {"text": _text(names.label(provider_id)[:75]), "value": provider_id}


def _provider_select(providers: Sequence[str], chosen: str | None, names: ProviderNames) -> Block:
    element: Block = {
        "type": "static_select",
        "placeholder": _text("Choose a provider"),
        "options": [_option(p, names) for p in providers],
    }
    if chosen in providers:
        element["initial_option"] = _option(str(chosen), names)
    return element


def key_form(
    providers: Sequence[str],
    request: SecretRequest | None,
    origin: dict[str, Any],
    *,
    error: str | None = None,
    names: ProviderNames,
) -> dict[str, Any]:
    """The modal asking for a key; ``error`` (a refusal) is shown above the key field.

    ``names`` names the providers in the picker.
    """
    request = request or SecretRequest(provider_id="")
    label: Block = {"type": "plain_text_input", "max_length": LABEL_MAX_CHARS}
    if request.label:
        label["initial_value"] = request.label
    limit: Block = {
        "type": "number_input",
        "is_decimal_allowed": True,
        "min_value": str(MONTHLY_LIMIT_MIN_USD),
        "max_value": str(MONTHLY_LIMIT_MAX_USD),
    }
    if request.monthly_limit:
        limit["initial_value"] = request.monthly_limit
    models: Block = {"type": "plain_text_input", "placeholder": _text("e.g. gpt-4o-mini, gpt-4o")}
    if request.allowed_models:
        models["initial_value"] = ", ".join(request.allowed_models)
    blocks: list[Block] = [
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Only you see this form. The key is checked with the provider, "
                    "stored encrypted, and never shown again — only its last four characters.",
                }
            ],
        },
        _input("provider", "Provider", _provider_select(providers, request.provider_id, names)),
    ]
    if error:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f":x: {mrkdwn(error)}"}}
        )
    blocks += [
        _input(
            "key",
            "API key",
            {"type": "plain_text_input", "placeholder": _text("Paste the key")},
        ),
        _input("label", "Label", label, optional=True, hint="A name for you, e.g. “work”."),
        _input(
            "limit",
            "Monthly limit (USD)",
            limit,
            optional=True,
            hint="Requests stop when this month's spend reaches it; you are told at 80%.",
        ),
        _input("models", "Allowed models", models, optional=True, hint="Empty: any model."),
    ]
    return {
        "type": "modal",
        "callback_id": KEY_CALLBACK,
        "title": _text("Add an API key"),
        "submit": _text("Check and save"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(origin),
        "blocks": blocks,
    }


def _result_view(reply: Reply) -> dict[str, Any]:
    icon = ":white_check_mark:" if reply.tone == "success" else ":x:"
    title = f"*{escape(reply.title)}*\n" if reply.title else ""
    text = f"{icon} {title}{mrkdwn(reply.text)}"
    return {
        "type": "modal",
        "title": _text("Add an API key"),
        "close": _text("Done"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }


def _checking_view(name: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _text("Add an API key"),
        "close": _text("Close"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": texts.key_checking(name)}}
        ],
    }


def summarize_form(
    providers: Sequence[str], origin: dict[str, Any], *, names: ProviderNames
) -> dict[str, Any]:
    """The modal taking a pasted transcript; ``names`` as for :func:`key_form`."""
    provider: Block = {
        "type": "static_select",
        "placeholder": _text("Your default"),
        "options": [_option(p, names) for p in providers],
    }
    return {
        "type": "modal",
        "callback_id": SUMMARIZE_CALLBACK,
        "title": _text("Summarise a meeting"),
        "submit": _text("Summarise"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(origin),
        "blocks": [
            _input(
                "transcript",
                "Transcript",
                {"type": "plain_text_input", "multiline": True, "max_length": TRANSCRIPT_CHARS},
                hint=(
                    "Slack allows 3,000 characters here. For a longer transcript, share the "
                    ".txt, .vtt or .srt file with me in a DM, or mention me with it attached."
                ),
            ),
            _input("provider", "Provider", provider, optional=True),
        ],
    }


async def open_view(
    runtime: Runtime,
    client: AsyncWebClient,
    trigger_id: str,
    view: dict[str, Any],
    target: Target,
    bot_user_id: str | None,
) -> None:
    """views.open; an expired trigger or other refusal becomes an ephemeral explanation."""
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        await runtime.delivery(client, target, bot_user_id=bot_user_id).explain(exc)


def _value(values: dict[str, Any], block: str) -> str:
    element = values.get(block, {}).get("value", {})
    if element.get("type") == "static_select":
        option = element.get("selected_option") or {}
        return str(option.get("value") or "")
    return str(element.get("value") or "").strip()


def _error_text(reply: Reply) -> str:
    return reply.text.strip()[:300] or "The key was not stored."


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def on_key_submit(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        view = body["view"]
        values = view["state"]["values"]
        origin = json.loads(view.get("private_metadata") or "{}")
        provider, key = _value(values, "provider"), _value(values, "key")
        limit, label, models = (
            _value(values, "limit"),
            _value(values, "label"),
            _value(values, "models"),
        )
        errors: dict[str, str] = {}
        if not provider:
            errors["provider"] = "Choose a provider."
        if not key:
            errors["key"] = "Paste the key."
        if limit:
            try:
                parse_usd(limit)
            except CommandError as exc:
                errors["limit"] = runtime.dispatcher.ctx.hints.error_text(exc)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        request = SecretRequest(
            provider_id=provider,
            label=label or None,
            monthly_limit=limit or None,
            allowed_models=tuple(
                m.strip() for m in models.replace(" ", ",").split(",") if m.strip()
            ),
        )
        team, user = str(context.team_id or origin.get("team") or ""), body["user"]["id"]
        inv = invocation(
            team=team,
            user=user,
            channel=str(origin.get("channel") or "modal"),
            private=True,
            command="byok",
            text=f"add {provider}",
        )
        checking = runtime.spawn(runtime.dispatcher.submit_key(inv, request, key), what="key check")
        done, _ = await asyncio.wait({checking}, timeout=runtime.options.submit_wait_s)
        if done:
            reply = checking.result() or Reply(tone="error", text="The key was not stored.")
            if reply.tone == "error":
                await ack(response_action="errors", errors={"key": _error_text(reply)})
                return
            await ack(response_action="update", view=_result_view(reply))
            if origin.get("home"):
                runtime.refresh_home(client, team, user)
            return
        name = runtime.provider_names.label(provider)
        await ack(response_action="update", view=_checking_view(name))
        later = _Pending(checking, view["id"], team, user, request, origin)
        runtime.spawn(_finish_later(runtime, client, later), what="key check result")

    async def on_summarize_submit(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        view = body["view"]
        values = view["state"]["values"]
        transcript, provider = _value(values, "transcript"), _value(values, "provider")
        if not transcript:
            await ack(response_action="errors", errors={"transcript": "Paste the transcript."})
            return
        await ack()
        origin = json.loads(view.get("private_metadata") or "{}")
        team, user = str(context.team_id or origin.get("team") or ""), body["user"]["id"]
        private = bool(origin.get("private"))
        target = Target(
            channel=str(origin.get("channel") or ""),
            user=user,
            team=team,
            private=private,
            response_url=origin.get("response_url"),
            header=None if private else f"<@{user}> `/summarize`",
            placeholder=None if private else texts.working_on(user, "summarize"),
        )
        text = (f"--provider {provider} " if provider else "") + transcript
        bot = context.bot_user_id
        runtime.spawn(
            _summarize(runtime, client, target, text, bot),
            what="/summarize",
            on_failure=runtime.failure_reporter(client, target, bot),
        )

    app.view(KEY_CALLBACK)(on_key_submit)
    app.view(SUMMARIZE_CALLBACK)(on_summarize_submit)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A key check still running after the form was answered with "checking…"."""

    checking: asyncio.Future[Reply | None]
    view_id: str
    team: str
    user: str
    request: SecretRequest
    origin: dict[str, Any]


async def _finish_later(runtime: Runtime, client: AsyncWebClient, pending: _Pending) -> None:
    """Show the check's result in the form; by DM when the form was closed meanwhile."""
    reply = await pending.checking or Reply(tone="error", text="The key was not stored.")
    stored = reply.tone != "error"
    if stored:
        view = _result_view(reply)
    else:
        view = key_form(
            runtime.provider_ids,
            pending.request,
            pending.origin,
            error=_error_text(reply),
            names=runtime.provider_names,
        )
    try:
        await client.views_update(view_id=pending.view_id, view=view)
        shown = True
    except SlackApiError as exc:
        log.info("slack: key check result not shown in the form (%s)", exc.response.get("error"))
        shown = False
    if stored and pending.origin.get("home"):
        runtime.refresh_home(client, pending.team, pending.user)
    if not shown:
        await _tell_by_dm(runtime, client, pending, reply)


async def _tell_by_dm(
    runtime: Runtime, client: AsyncWebClient, pending: _Pending, reply: Reply
) -> None:
    channel = await runtime.bot_dm(client, pending.team, pending.user)
    if channel is None:
        log.warning("slack: a key check result reached no one (no DM with the user)")
        return
    header = texts.key_checked(runtime.provider_names.label(pending.request.provider_id))
    for message in render_reply(reply, header=header):
        await client.chat_postMessage(channel=channel, **message.payload())


async def _summarize(
    runtime: Runtime, client: AsyncWebClient, target: Target, text: str, bot: str | None
) -> None:
    team = target.team or ""
    if target.private:
        dm = await runtime.bot_dm(client, team, target.user)
        target = replace(target, in_bot_dm=dm == target.channel)
    inv = invocation(
        team=team,
        user=target.user,
        channel=target.channel,
        private=target.private,
        command="summarize",
        text=text,
        thread=target.channel if target.in_bot_dm else None,
    )
    await runtime.deliver(client, target, inv, bot_user_id=bot)
