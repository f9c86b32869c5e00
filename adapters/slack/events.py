"""Mentions, direct messages, shared transcript files and the "summarise" message shortcut.

A mention is answered in its thread. When the user allows history
(``/byok prefs history on``), the earlier messages of that thread are given to the model
as context (see :mod:`adapters.slack.threads`); messages holding something shaped like a
key are left out. A DM is a
question (or ``/usage``-style command); a .txt/.vtt/.srt file shared in a DM or with a
mention is summarised; images (PNG, JPEG, GIF, WebP) shared so go with the message's text
to /ask.

Mentions and DMs are Events API events, which Slack re-sends when unsure they arrived:
each is answered once, whichever instance gets it (``first_of``, see
:mod:`adapters.slack.runtime`). The message shortcut is an interaction, never re-sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.delivery import Target
from adapters.slack.files import (
    FileRefusedError,
    fetch_images,
    fetch_transcripts,
    image_files,
    is_transcript,
)
from adapters.slack.render import SlackMessage, context_block
from adapters.slack.runtime import Runtime, command_in, invocation
from adapters.slack.threads import thread_messages
from bot.commands.ask import ASK_FLAGS, ASK_USAGE
from bot.commands.table import SHARED_FILE_COMMAND
from bot.grammar import CommandError, parse_flags
from bot.invocation import Attachment
from bot.lookup import history_allowed

__all__ = [
    "SHORTCUT_CALLBACK",
    "EventSettings",
    "question_in",
    "register",
    "shared_files",
    "unescape",
    "with_thread_context",
]

log = logging.getLogger(__name__)

SHORTCUT_CALLBACK = "byok_summarize_message"


class EventSettings:
    """What event handling needs beyond the runtime: where files may come from."""

    def __init__(self, api_url: str, max_file_bytes: int) -> None:
        self.api_url = api_url
        self.max_file_bytes = max_file_bytes


def unescape(text: str) -> str:
    """Message text as typed: Slack escapes ``& < >`` in events."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _strip_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return unescape(" ".join(text.split()))


def question_in(text: str) -> str:
    """The question sent with images: the text, less a leading ``/ask``."""
    command, rest = command_in(text)
    return rest if command == "ask" else text.strip()


def with_thread_context(question: str, earlier: list[str]) -> str:
    """The question with earlier thread messages before it, its ``--flags`` kept in front."""
    if not earlier:
        return question
    try:
        parsed = parse_flags(question, ASK_FLAGS, usage=ASK_USAGE)
    except CommandError:
        return question  # the dispatcher will explain the mistake
    start, end = parsed.span
    flags = (question[:start] + " " + question[end:]).split()
    context = "\n".join(earlier)
    body = (
        f"Earlier messages in this Slack thread, for context:\n{context}\n\n"
        f"My question: {parsed.text}"
    )
    combined = " ".join([*flags, "--", body])
    try:
        kept = parse_flags(combined, ASK_FLAGS, usage=ASK_USAGE).flags == parsed.flags
    except CommandError:
        kept = False
    # A flag left without its value at the end ("… --model ") would take the context's
    # separator as its value: ask without the thread's context rather than change a flag.
    return combined if kept else question


async def shared_files(
    runtime: Runtime,
    settings: EventSettings,
    files: list[Mapping[str, Any]],
    target: Target,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    images: bool = True,
) -> tuple[str, tuple[Attachment, ...]] | None:
    """The command for shared files and what it reads, or None after telling the user why
    not: the transcript among them for the file-taking command or, with ``images`` and no
    transcript among them, the images for /ask."""
    token = str(context.bot_token or client.token or "")
    listed = files if isinstance(files, list | tuple) else []
    transcript = any(isinstance(f, Mapping) and is_transcript(f) for f in listed)
    try:
        if images and not transcript and image_files(files):
            found = await fetch_images(files, token=token, api_url=settings.api_url)
            return "ask", found
        found = await fetch_transcripts(
            files, token=token, api_url=settings.api_url, max_bytes=settings.max_file_bytes
        )
        return SHARED_FILE_COMMAND.name, found
    except FileRefusedError as exc:
        text = f":warning: {exc}"
        delivery = runtime.delivery(client, target, bot_user_id=context.bot_user_id)
        await delivery.ephemeral([SlackMessage(text=text, blocks=[context_block(text)])])
        return None


@dataclass(frozen=True, slots=True)
class _Work:
    """What runs after Slack was acknowledged, for each kind of event."""

    runtime: Runtime
    settings: EventSettings

    async def mention(
        self, event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        team = str(context.team_id or event.get("team") or "")
        user, channel = str(event.get("user") or ""), str(event["channel"])
        thread_ts = str(event.get("thread_ts") or event["ts"])
        target = Target(channel=channel, user=user, team=team, private=False, thread_ts=thread_ts)
        text = _strip_mention(str(event.get("text") or ""), context.bot_user_id)
        attachments: tuple[Attachment, ...] = ()
        if event.get("files"):
            shared = await shared_files(
                self.runtime, self.settings, event["files"], target, client, context
            )
            if shared is None:
                return
            command, attachments = shared
            if command == "ask":
                text = question_in(text)
        else:
            command, text = command_in(text)
        inv = invocation(
            team=team, user=user, channel=channel, private=False, command=command,
            text=text, attachments=attachments,
        )  # fmt: skip
        in_thread = command == "ask" and thread_ts != str(event["ts"])
        if in_thread and await history_allowed(self.runtime.dispatcher.ctx, inv.user_ref):
            earlier = await thread_messages(
                client, channel, thread_ts, str(event["ts"]),
                bot_user_id=context.bot_user_id, bot_id=context.bot_id,
            )  # fmt: skip
            inv = replace(inv, text=with_thread_context(text, earlier))
        await self.runtime.deliver(
            client, target, inv, bot_user_id=context.bot_user_id,
            conversation=f"{channel}:{thread_ts}", earlier=in_thread,
        )  # fmt: skip

    async def direct(
        self, event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        team = str(context.team_id or event.get("team") or "")
        user, channel = str(event.get("user") or ""), str(event["channel"])
        target = Target(channel=channel, user=user, team=team, private=True, in_bot_dm=True)
        attachments: tuple[Attachment, ...] = ()
        if event.get("files"):
            shared = await shared_files(
                self.runtime, self.settings, event["files"], target, client, context
            )
            if shared is None:
                return
            command, attachments = shared
            text = str(event.get("text") or "")
            if command == "ask":
                text = question_in(unescape(text))
        else:
            command, text = command_in(unescape(str(event.get("text") or "")))
        inv = invocation(
            team=team, user=user, channel=channel, private=True, command=command,
            text=text, attachments=attachments, thread=channel,
        )  # fmt: skip
        await self.runtime.deliver(client, target, inv, bot_user_id=context.bot_user_id)

    async def shortcut(
        self, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        message = body.get("message") or {}
        team = str(context.team_id or (body.get("team") or {}).get("id") or "")
        user, channel = str(body["user"]["id"]), str(body["channel"]["id"])
        private = channel.startswith("D")
        in_bot_dm = private and await self.runtime.bot_dm(client, team, user) == channel
        target = Target(
            channel=channel,
            user=user,
            team=team,
            private=private,
            in_bot_dm=in_bot_dm,
            thread_ts=str(message.get("thread_ts") or message.get("ts") or "") or None,
            response_url=body.get("response_url"),
            header=None if private else f"<@{user}> asked for a summary of this message",
            placeholder=None if private else texts.working_on(user, SHARED_FILE_COMMAND.name),
        )
        attachments: tuple[Attachment, ...] = ()
        if message.get("files"):
            shared = await shared_files(
                self.runtime, self.settings, message["files"], target, client, context,
                images=False,
            )  # fmt: skip
            if shared is None:
                return
            attachments = shared[1]
        inv = invocation(
            team=team, user=user, channel=channel, private=private,
            command=SHARED_FILE_COMMAND.name,
            text=unescape(str(message.get("text") or "")) if not attachments else "",
            attachments=attachments,
        )  # fmt: skip
        await self.runtime.deliver(client, target, inv, bot_user_id=context.bot_user_id)


def register(app: AsyncApp, runtime: Runtime, settings: EventSettings) -> None:
    work = _Work(runtime, settings)

    async def on_mention(
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        thread_ts = str(event.get("thread_ts") or event["ts"])
        target = Target(
            channel=str(event["channel"]), user=str(event.get("user") or ""),
            team=context.team_id, private=False, thread_ts=thread_ts,
        )  # fmt: skip
        runtime.spawn(
            work.mention(event, client, context),
            what="mention",
            on_failure=runtime.failure_reporter(client, target, context.bot_user_id),
            first_of=body,
        )

    async def on_message(
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        # DMs only; threads in DMs belong to the assistant handlers.
        if (
            event.get("channel_type") != "im"
            or event.get("subtype") not in (None, "file_share")
            or event.get("bot_id")
            or event.get("thread_ts")
        ):
            return
        target = Target(
            channel=str(event["channel"]), user=str(event.get("user") or ""),
            team=context.team_id, private=True, in_bot_dm=True,
        )  # fmt: skip
        runtime.spawn(
            work.direct(event, client, context),
            what="direct message",
            on_failure=runtime.failure_reporter(client, target, context.bot_user_id),
            first_of=body,
        )

    async def on_shortcut(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        target = Target(
            channel=str(body["channel"]["id"]), user=str(body["user"]["id"]), team=context.team_id,
            private=True, response_url=body.get("response_url"),
        )  # fmt: skip
        runtime.spawn(
            work.shortcut(body, client, context),
            what="summarise shortcut",
            on_failure=runtime.failure_reporter(client, target, context.bot_user_id),
        )

    app.event("app_mention")(on_mention)
    app.event("message")(on_message)
    app.shortcut(SHORTCUT_CALLBACK)(on_shortcut)
