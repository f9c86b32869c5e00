"""Turning one command's ReplyEvents into Slack messages.

Public answers (and anything in the bot's own DM) are posted and grow as they stream:
natively inside a thread when Slack allows it, else by paced edits. Private replies in a
shared conversation are ephemeral; when Slack will not let the bot post there at all
(a channel it is not in, a group DM), the slash command's ``response_url`` still
reaches the channel: the answer arrives in one piece when it is done, errors only to
the user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, replace

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import texts
from adapters.slack.quiet_logger import quiet_logger
from adapters.slack.render import (
    MAX_BLOCKS,
    SlackMessage,
    context_block,
    render_reply,
    render_stream,
    tail_blocks,
)
from adapters.slack.streaming import (
    DEFAULT_INTERVAL,
    EDIT_BURST,
    EDITS_PER_MINUTE,
    Clock,
    EditBudget,
    LiveReply,
    NativeStream,
)
from bot.reply import (
    Delta,
    FileOut,
    Part,
    Reply,
    ReplyEvent,
    SecretRequest,
    Section,
    Status,
)

__all__ = ["Delivery", "SlackOptions", "Target"]

log = logging.getLogger(__name__)

_TOO_LONG = frozenset({"msg_too_long", "msg_blocks_too_long"})
_SMALL_MESSAGE = 3500
#: Messages one response_url accepts (within 30 minutes of the command).
RESPONSE_URL_USES = 5


@dataclass(frozen=True, slots=True)
class Target:
    """Where one command's reply goes and who may see it."""

    channel: str
    user: str
    team: str | None
    private: bool
    in_bot_dm: bool = False
    thread_ts: str | None = None
    response_url: str | None = None
    assistant: bool = False
    header: str | None = None
    placeholder: str | None = None

    @property
    def live_ok(self) -> bool:
        """Whether a message posted here is seen by the right people while it grows."""
        return self.in_bot_dm or not self.private


@dataclass(frozen=True, slots=True)
class SlackOptions:
    """Pacing and timing; production keeps the defaults."""

    #: Seconds between edits of one streamed message.
    interval: float = DEFAULT_INTERVAL
    #: chat.update calls per minute shared by all answers streaming in one workspace.
    edits_per_minute: float = EDITS_PER_MINUTE
    #: Edits a workspace may make at once after a quiet spell.
    edit_burst: int = EDIT_BURST
    #: Use Slack's chat streaming API inside threads.
    native_streaming: bool = True
    #: How long a key form's submission waits for the provider before saying "checking…".
    submit_wait_s: float = 2.0
    clock: Clock = time.monotonic


SecretOpener = Callable[[SecretRequest], Awaitable[None]]


class Delivery:
    """Shows one command's events in Slack; one instance per command."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        options: SlackOptions,
        *,
        bot_user_id: str | None = None,
        open_secret: SecretOpener | None = None,
        notes: tuple[Section, ...] = (),
        budget: EditBudget | None = None,
    ) -> None:
        self._client = client
        self._notes = notes
        self._budget = budget
        self.target = target
        self._options = options
        self._bot_user_id = bot_user_id
        self._open_secret = open_secret
        self._live: LiveReply | None = None
        self._native: NativeStream | None = None
        self._text = ""
        #: The bot may not post here: the answer goes through response_url when done.
        self._via_response_url = False
        self._responses = 0
        #: Answers side by side (``/ask --compare``): one message of its own per part.
        self._parts: dict[str, Delivery] = {}

    def _new_live(self, adopt: list[str] | None = None) -> LiveReply:
        return LiveReply(
            self._client,
            self.target.channel,
            self.target.thread_ts,
            interval=self._options.interval,
            clock=self._options.clock,
            adopt=adopt or (),
            budget=self._budget,
        )

    async def run(self, events: AsyncIterator[ReplyEvent]) -> Reply | None:
        """Consume the events; returns the final reply (None when nothing could be shown)."""
        try:
            if self.target.placeholder and not await self._post_placeholder():
                return None
            async for event in events:
                if isinstance(event, Status):
                    await self._status(event.text)
                elif isinstance(event, Delta):
                    await self._delta(event.text)
                elif isinstance(event, Part):
                    await self._part(event)
                else:
                    reply = self._noted(event)
                    await self._finish(reply)
                    return reply
            return None
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    async def _part(self, part: Part) -> None:
        """One answer of several: its own message, headed by its title, in the thread of
        the command's message (which ends as the closing line), growing by paced edits
        that share the workspace's edit budget. Through a response_url (the bot may not
        post here) each part arrives whole when done, within the URL's 5 uses."""
        event = part.event
        if self._via_response_url:
            if isinstance(event, Reply):
                await self._respond_reply(replace(event, text=f"*{part.title}*\n{event.text}"))
            return
        child = self._parts.get(part.key)
        if child is None:
            thread = self.target.thread_ts
            if thread is None and self._live is not None and self._live.posted:
                thread = self._live.posted[0]
            target = replace(
                self.target, thread_ts=thread, header=part.title, placeholder=None, assistant=False
            )
            # Several messages streaming at once in one thread: edits, not native streams.
            options = replace(self._options, native_streaming=False)
            child = Delivery(
                self._client, target, options, bot_user_id=self._bot_user_id, budget=self._budget
            )
            self._parts[part.key] = child
        if isinstance(event, Status):
            await child._status(event.text)
        elif isinstance(event, Delta):
            await child._delta(event.text)
        else:
            await child._finish(event)

    def _noted(self, reply: Reply) -> Reply:
        """The reply with this delivery's notes below an answer (not below an error)."""
        if not self._notes or reply.tone == "error" or reply.secret_request is not None:
            return reply
        return replace(reply, sections=(*reply.sections, *self._notes))

    async def _post_placeholder(self) -> bool:
        assert self.target.placeholder is not None
        live = self._new_live()
        text = self.target.placeholder
        try:
            await live.open(SlackMessage(text=text, blocks=[context_block(text)]))
        except SlackApiError as exc:
            code = texts.slack_error_code(exc)
            if self.target.response_url and code in texts.CHANNEL_ERRORS:
                log.info("slack: cannot post here (%s); answering through response_url", code)
                self._via_response_url = True
                return True
            await self.explain(exc)
            return False
        self._live = live
        return True

    async def _status(self, text: str) -> None:
        if self.target.assistant and self.target.thread_ts:
            with suppress(SlackApiError):
                await self._client.assistant_threads_setStatus(
                    channel_id=self.target.channel, thread_ts=self.target.thread_ts, status=text
                )
            return
        if self._native is not None or not self.target.live_ok or self._via_response_url:
            return
        self._live = self._live or self._new_live()
        self._live.show(lambda: render_stream(self._text, header=self.target.header, status=text))

    async def _delta(self, text: str) -> None:
        self._text += text
        if not self.target.live_ok or self._via_response_url:
            return
        native = self._native
        if native is None and self._live is None and self._native_ok():
            native = self._native = NativeStream(
                self._client,
                self.target.channel,
                self.target.thread_ts or "",
                team_id=self.target.team,
                user_id=self.target.user,
                interval=self._options.interval,
                clock=self._options.clock,
            )
        if native is not None:
            if native.failed is None:
                native.append(text)
                return
            # Slack refused the stream (or it expired): keep going with edits.
            self._native = None
            await native.abandon()
            self._live = self._new_live(adopt=native.posted)
        self._live = self._live or self._new_live()
        self._live.show(lambda: render_stream(self._text, header=self.target.header))

    def _native_ok(self) -> bool:
        return self._options.native_streaming and self.target.thread_ts is not None

    async def _finish(self, reply: Reply) -> None:
        if reply.secret_request is not None and self._open_secret is not None:
            await self._discard()
            await self._open_secret(reply.secret_request)
            return
        if self._via_response_url:
            await self._respond_reply(reply)
            return
        try:
            if reply.private and not self.target.in_bot_dm:
                await self._discard()
                await self.ephemeral(render_reply(reply))
            else:
                await self._publish(reply)
            await self._upload(reply.files, ephemeral=reply.private and not self.target.in_bot_dm)
        except SlackApiError as exc:
            await self.explain(exc)

    async def _discard(self) -> None:
        if self._native is not None:
            native, self._native = self._native, None
            await native.abandon()
            self._live = self._new_live(adopt=native.posted)
        if self._live is not None:
            await self._live.delete()
            self._live = None

    async def _publish(self, reply: Reply) -> None:
        header = self.target.header
        native = self._native
        if native is not None:
            same = reply.text.strip() == self._text.strip()
            tail = tail_blocks(reply) if same else render_reply(reply)[0].blocks
            await native.finish(tail)
            if native.failed is None:
                return
            self._live = self._new_live(adopt=native.posted)
        live = self._live or self._new_live()
        try:
            await live.finish(render_reply(reply, header=header))
        except SlackApiError as exc:
            if texts.slack_error_code(exc) not in _TOO_LONG:
                raise
            await live.finish(render_reply(reply, header=header, message_chars=_SMALL_MESSAGE))

    async def ephemeral(self, messages: list[SlackMessage]) -> None:
        """Show messages to the user alone; through response_url if the bot cannot post."""
        target = self.target
        try:
            for message in messages:
                await self._client.chat_postEphemeral(
                    channel=target.channel,
                    user=target.user,
                    thread_ts=target.thread_ts,
                    **message.payload(),
                )
        except SlackApiError as exc:
            if not target.response_url or texts.slack_error_code(exc) not in texts.CHANNEL_ERRORS:
                raise
            for message in messages:
                await self.respond(message)

    async def _respond_reply(self, reply: Reply) -> None:
        """The whole reply through response_url: for the channel, errors for the user alone.

        A response_url takes 5 messages: a longer answer shows its first parts and says
        how to get all of it.
        """
        bot = self._bot_user_id
        if reply.private or reply.tone == "error":
            for message in render_reply(reply)[:RESPONSE_URL_USES]:
                await self.respond(message)
            return
        parts = render_reply(reply, header=self.target.header)
        if len(parts) > RESPONSE_URL_USES:
            shown = RESPONSE_URL_USES - 1
            note = texts.answer_cut_short(shown, len(parts), bot)
            parts = [*parts[:shown], SlackMessage(text=note, blocks=[context_block(note)])]
        else:
            hint = texts.not_streamed(bot)
            last = parts[-1]
            if len(last.blocks) < MAX_BLOCKS:
                parts[-1] = SlackMessage(last.text, [*last.blocks, context_block(hint)])
            elif len(parts) < RESPONSE_URL_USES:
                parts.append(SlackMessage(text=hint, blocks=[context_block(hint)]))
        for message in parts:
            await self.respond(message, response_type="in_channel")

    async def respond(self, message: SlackMessage, *, response_type: str = "ephemeral") -> None:
        """Send through the command's response_url (5 uses; later ones are only logged)."""
        assert self.target.response_url is not None
        if self._responses >= RESPONSE_URL_USES:
            log.warning("slack: a response_url message was dropped (5 already sent)")
            return
        self._responses += 1
        webhook = AsyncWebhookClient(
            self.target.response_url, logger=quiet_logger("adapters.slack.webhook")
        )
        answer = await webhook.send(
            text=message.text, blocks=message.blocks, response_type=response_type
        )
        if answer.status_code != 200:
            log.warning("slack: response_url refused a message (HTTP %s)", answer.status_code)

    async def explain(self, exc: SlackApiError) -> None:
        """Tell the user what Slack refused, by whatever way still reaches them."""
        code = texts.slack_error_code(exc)
        log.info("slack: a call was refused (%s)", code)
        text = texts.api_error_text(code, self._bot_user_id)
        message = SlackMessage(text=text, blocks=[context_block(text)])
        try:
            if self.target.response_url:
                await self.respond(message)
            elif code not in texts.CHANNEL_ERRORS:
                await self.ephemeral([message])
        except Exception as again:  # noqa: BLE001 - nothing else can reach the user
            log.warning("slack: could not explain %s to the user: %s", code, type(again).__name__)

    async def _upload(self, files: tuple[FileOut, ...], *, ephemeral: bool) -> None:
        if not files:
            return
        channel, thread = self.target.channel, self.target.thread_ts
        if ephemeral:
            opened = await self._client.conversations_open(users=self.target.user)
            channel, thread = str(opened["channel"]["id"]), None
        for file in files:
            await self._client.files_upload_v2(
                channel=channel,
                thread_ts=thread,
                content=file.content,
                filename=file.filename,
                title=file.title or file.filename,
            )
