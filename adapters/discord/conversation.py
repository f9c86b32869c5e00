"""Messages to the bot: DMs, @mentions, and replies that continue a conversation.

A DM is a conversation with the bot: a line is a question (``/ask``) unless it starts
with a slash (``/usage``, ``/byok add openai <key>`` — a DM is private) or comes with a
.txt/.vtt/.srt file, which is summarised (``/summarize``); images (PNG, JPEG, GIF, WebP)
attached to a question go with it to /ask. In a server the
bot answers a message that mentions it or replies to one of its answers. A reply chain
is one conversation, named by its root (the llmcord way: walk the chain, bounded, with
a bounded cache of where each message belongs). The engine keeps the conversation's
messages when the user allows history (``/byok prefs history on``) and feeds them back
as context; without it the bot answers the message alone and says so (in a DM, once:
at the first follow-up it answers without the earlier messages).

A message in a server that holds a key is deleted when the bot may (Manage Messages)
and never sent anywhere; the warning goes to the user by DM.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import replace

import discord

from adapters.discord.identity import chain_thread, dm_thread, invocation
from adapters.discord.images import ImageRefusedError, download_images, image_attachments
from adapters.discord.streaming import AnswerStream, Pacing
from adapters.discord.surfaces import ChannelSurface
from adapters.downloads import DownloadFailedError, TooLargeError, download_capped
from bot.commands.table import FILE_COMMAND_WORDS, SHARED_FILE_COMMAND, command_named
from bot.dispatch import Dispatcher
from bot.history_notice import HISTORY_OFF, HISTORY_OFF_DM
from bot.incidents import record_incident
from bot.inflight import InFlightWork
from bot.invocation import Attachment, Invocation
from bot.lookup import contains_key, history_allowed
from bot.reply import Reply, Section
from bot.summaries.transcripts import max_transcript_bytes, too_large_message

__all__ = ["Conversations"]

log = logging.getLogger(__name__)

_ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_TRANSCRIPTS = (".txt", ".vtt", ".srt")


class Conversations:
    """Answers messages addressed to the bot."""

    def __init__(
        self,
        client: discord.Client,
        dispatcher: Dispatcher,
        inflight: InFlightWork,
        pacing: Pacing,
        *,
        max_depth: int = 25,
        remember: int = 5000,
    ) -> None:
        self._client = client
        self._dispatcher = dispatcher
        self._inflight = inflight
        self._pacing = pacing
        self._max_depth = max_depth
        self._remember = remember
        self._threads: OrderedDict[int, str] = OrderedDict()  # message id -> conversation
        # DM conversations with a message since start -> whether HISTORY_OFF_DM was said
        self._dms: OrderedDict[str, bool] = OrderedDict()
        self.accepting = True

    def _note(self, message_id: int, thread: str) -> None:
        self._threads[message_id] = thread
        self._threads.move_to_end(message_id)
        while len(self._threads) > self._remember:
            self._threads.popitem(last=False)

    async def on_message(self, message: discord.Message) -> None:
        me = self._client.user
        if me is None or message.author.bot or message.type not in _ANSWERED_TYPES:
            return
        dm = isinstance(message.channel, discord.DMChannel)
        reference = message.reference
        parent = reference.resolved if reference is not None else None
        to_me = isinstance(parent, discord.Message) and parent.author.id == me.id
        mentioned = any(user.id == me.id for user in message.mentions)
        if not (dm or to_me or mentioned) or not self.accepting:
            return
        with self._inflight.track(message.id):
            try:
                await self._answer(message, me.id, dm=dm, continuing=to_me)
            except discord.Forbidden as exc:
                log.warning(
                    "missing permissions in channel %s (code %s)", message.channel.id, exc.code
                )
                await self._dm(
                    message,
                    "I can't answer in that channel: I'm missing a "
                    "permission there (Send Messages or Read Message History).",
                )
            except discord.HTTPException as exc:
                log.warning(
                    "Discord refused an answer in channel %s: HTTP %s (code %s)",
                    message.channel.id,
                    exc.status,
                    exc.code,
                )
            except Exception as exc:  # noqa: BLE001 - the adapter's boundary: record_incident logs it
                incident = record_incident(log, f"message {message.id}", exc)
                await self._dm(message, incident.message)

    async def _answer(
        self, message: discord.Message, me: int, *, dm: bool, continuing: bool
    ) -> None:
        text = re.sub(rf"<@!?{me}>", "", message.content).strip()
        if not text and not message.attachments:
            if not dm:
                await message.reply(
                    "I couldn't read that message. Keep the @mention on when you reply to me, "
                    "or use `/ask`.",
                    mention_author=False,
                )
            return
        withdrawn = not dm and contains_key(text)
        notes = await self._withdraw(message) if withdrawn else []
        command, rest = "ask", text
        if text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
        elif message.attachments and message.attachments[0].filename.lower().endswith(_TRANSCRIPTS):
            # A transcript, alone or with words ("summarise this --model x"): the command
            # that takes a file (/summarize) takes the words' flags; it has no use for
            # free instructions.
            command = SHARED_FILE_COMMAND.name
        surface = ChannelSurface(message)
        attachments = await self._files(message, command, surface)
        if attachments is None:
            return
        thread = dm_thread(message.channel.id) if dm else await self._thread_of(message, me)
        self._note(message.id, thread)
        inv = invocation(
            message.author,
            message.channel.id,
            command,
            rest.strip(),
            private=dm,
            attachments=attachments,
            thread=thread,
        )
        note = await self._history_note(inv, dm=dm, continuing=continuing)
        if note is not None:
            notes.append(note)
        if not withdrawn:  # a withdrawn key's warning goes by DM: nothing to type here
            try:
                await message.channel.typing()
            except discord.HTTPException as exc:
                log.info("no typing indicator in %s: HTTP %s", message.channel.id, exc.status)

        def finish(reply: Reply) -> Reply:
            if reply.secret_request is not None:
                provider = reply.secret_request.provider_id
                return Reply(
                    text=(
                        f"Send `/byok add {provider} <key>` here in our DM, or use the "
                        "`/byok add` command anywhere: it opens a private form."
                    )
                )
            return replace(reply, sections=(*reply.sections, *notes)) if notes else reply

        await AnswerStream(surface, self._pacing).run(self._dispatcher.run(inv), finish)
        for message_id in surface.posted_ids:
            self._note(message_id, thread)

    async def _files(
        self, message: discord.Message, command: str, surface: ChannelSurface
    ) -> tuple[Attachment, ...] | None:
        """What the command reads of the message's attachments (a transcript for the
        file-taking command, images for /ask), or None after saying why not."""
        attachments: tuple[Attachment, ...] = ()
        if command.lower() in FILE_COMMAND_WORDS and message.attachments:
            file = message.attachments[0]
            limit = max_transcript_bytes(self._dispatcher.ctx.max_transcript_chars)
            problem = (
                f"`{file.filename}` is {file.size:,} bytes; I read transcripts up to "
                f"{limit:,}. Split it and summarise each part."
            )
            try:
                if file.size <= limit:
                    data = await download_capped(file.url, limit)
                    attachments = (Attachment(file.filename, data, file.content_type),)
            except TooLargeError:
                problem = too_large_message(file.filename, limit)
            except DownloadFailedError as exc:
                log.warning("downloading an attachment failed: HTTP %s", exc.status)
                problem = f"I couldn't download `{file.filename}` from Discord; please try again."
            if not attachments:
                reply = Reply(tone="error", text=problem, private=False)
                await AnswerStream(surface, self._pacing).show_reply(reply)
                return None
        asked = command_named(command)
        images = image_attachments(message.attachments)
        if asked is not None and asked.name == "ask" and images:
            try:
                attachments = await download_images(images)
            except ImageRefusedError as exc:
                reply = Reply(tone="error", text=str(exc), private=False)
                await AnswerStream(surface, self._pacing).show_reply(reply)
                return None
        return attachments

    async def _history_note(self, inv: Invocation, *, dm: bool, continuing: bool) -> Section | None:
        """Say that earlier messages went unsent with history off; in a DM only once."""
        thread = inv.thread or ""
        said = self._dms.get(thread) if dm else None  # None: nothing earlier since start
        if dm:
            unsent = said is not True and (continuing or (inv.command == "ask" and said is False))
        else:
            unsent = continuing
        note = None
        if unsent and not await history_allowed(self._dispatcher.ctx, inv.user_ref):
            note = HISTORY_OFF_DM if dm else HISTORY_OFF
        if dm and (inv.command == "ask" or note):  # commands aren't context to miss
            self._dms[thread] = bool(said or note)
            self._dms.move_to_end(thread)
            while len(self._dms) > self._remember:
                self._dms.popitem(last=False)
        return note

    async def _thread_of(self, message: discord.Message, me: int) -> str:
        """The conversation a server message belongs to: the root of its reply chain."""
        channel = message.channel.id
        current = message
        for _ in range(self._max_depth):
            known = self._threads.get(current.id)
            if known is not None:
                return known
            meta = current.interaction_metadata
            if meta is not None and current.author.id == me:
                return chain_thread(channel, meta.id)  # an answer to a slash command
            reference = current.reference
            if reference is None or reference.message_id is None:
                break
            parent = await self._parent(current, reference)
            if parent is None:
                return chain_thread(channel, reference.message_id)
            current = parent
        return chain_thread(channel, current.id)

    async def _parent(
        self, message: discord.Message, reference: discord.MessageReference
    ) -> discord.Message | None:
        if isinstance(reference.resolved, discord.Message):
            return reference.resolved
        if reference.cached_message is not None:
            return reference.cached_message
        assert reference.message_id is not None
        try:
            return await message.channel.fetch_message(reference.message_id)
        except discord.HTTPException as exc:
            log.info("reply chain ends at an unreadable message (HTTP %s)", exc.status)
            return None

    async def _withdraw(self, message: discord.Message) -> list[Section]:
        """Delete a server message that holds a key; say so if the bot may not."""
        try:
            await message.delete()
        except discord.NotFound:
            return []
        except discord.HTTPException as exc:
            log.warning(
                "a message in channel %s holds a key but could not be deleted (HTTP %s, code %s)",
                message.channel.id,
                exc.status,
                exc.code,
            )
            return [
                Section(
                    title="Delete your message",
                    text="I couldn't delete it (I lack Manage Messages there): please "
                    "delete it yourself.",
                )
            ]
        log.info("deleted a message holding a key in channel %s", message.channel.id)
        return [Section(text="I deleted your message from the channel.")]

    async def _dm(self, message: discord.Message, text: str) -> None:
        try:
            channel = await message.author.create_dm()
            await channel.send(text)
        except discord.HTTPException as exc:
            log.info("could not DM user %s either (HTTP %s)", message.author.id, exc.status)
