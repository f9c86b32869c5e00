"""Slack's AI-app assistant pane (and any thread in a DM with the bot).

A new assistant thread gets a greeting and suggested prompts; each message in it is
answered in the thread, streamed, with "is thinking…" (and progress such as a provider
fallback) shown as the thread's status meanwhile. The thread is the conversation the
engine keeps history for, when the user allows history.

Both are Events API events: a repeat delivery (Slack's retry, possibly to another
instance) is neither greeted nor answered again (see :mod:`adapters.slack.runtime`).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.say.async_say import AsyncSay
from slack_bolt.context.set_suggested_prompts.async_set_suggested_prompts import (
    AsyncSetSuggestedPrompts,
)
from slack_bolt.middleware.assistant.async_assistant import AsyncAssistant
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.delivery import Target
from adapters.slack.events import EventSettings, question_in, shared_files, unescape
from adapters.slack.runtime import Runtime, command_in, invocation

__all__ = ["build_assistant"]

log = logging.getLogger(__name__)

THINKING = "is thinking…"


def build_assistant(runtime: Runtime, settings: EventSettings) -> AsyncAssistant:
    assistant = AsyncAssistant(logger=logging.getLogger("adapters.slack.assistant.bolt"))

    async def thread_started(
        body: dict[str, Any], say: AsyncSay, set_suggested_prompts: AsyncSetSuggestedPrompts
    ) -> None:
        if not await runtime.first_delivery(body):
            return
        try:
            await say(texts.greeting())
            await set_suggested_prompts(prompts=texts.suggested_prompts())
        except SlackApiError as exc:
            log.info("slack: assistant greeting refused (%s)", exc.response.get("error"))

    async def context_changed() -> None:
        """The channel the user is looking at changed; the bot does not use it."""

    async def answer(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        team = str(context.team_id or event.get("team") or "")
        user, channel = str(event.get("user") or ""), str(event["channel"])
        thread_ts = str(event.get("thread_ts") or event["ts"])
        target = Target(
            channel=channel, user=user, team=team, private=True, in_bot_dm=True,
            thread_ts=thread_ts, assistant=True,
        )  # fmt: skip
        try:
            await client.assistant_threads_setStatus(
                channel_id=channel, thread_ts=thread_ts, status=THINKING
            )
        except SlackApiError as exc:  # a DM thread outside the assistant pane has no status
            log.debug("slack: no assistant status (%s)", exc.response.get("error"))
        if event.get("files"):
            shared = await shared_files(runtime, settings, event["files"], target, client, context)
            if shared is None:
                return
            command, attachments = shared
            text = str(event.get("text") or "")
            if command == "ask":
                text = question_in(unescape(text))
        else:
            command, text = command_in(unescape(str(event.get("text") or "")))
            attachments = ()
        inv = invocation(
            team=team, user=user, channel=channel, private=True, command=command, text=text,
            attachments=attachments, thread=f"{channel}:{thread_ts}",
        )  # fmt: skip
        await runtime.deliver(client, target, inv, bot_user_id=context.bot_user_id)

    async def user_message(
        body: dict[str, Any],
        payload: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        target = Target(
            channel=str(payload["channel"]), user=str(payload.get("user") or ""),
            team=context.team_id, private=True, in_bot_dm=True,
            thread_ts=str(payload.get("thread_ts") or payload["ts"]),
        )  # fmt: skip
        runtime.spawn(
            answer(payload, client, context),
            what="assistant message",
            on_failure=runtime.failure_reporter(client, target, context.bot_user_id),
            first_of=body,
        )

    assistant.thread_started(thread_started)
    assistant.thread_context_changed(context_changed)
    assistant.user_message(user_message)
    return assistant
