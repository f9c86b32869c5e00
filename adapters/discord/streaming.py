"""Answers that stream in: messages edited in place at a pace Discord allows.

Each message being written has its own throttle (:class:`LiveMessage`): at most one edit
per ``Pacing.interval`` seconds, the newest text winning, so a fast stream costs a few
edits, not one per token. While the answer grows the last message ends with a "still
writing…" line (or the latest progress status); text past one message's limit
continues in a new message. The final :class:`~bot.reply.Reply` then replaces the
streamed view, or — when it is private but was begun in public — the public messages
are withdrawn and the reply is delivered privately. When the reply cannot be shown in
place (the final edit fails: an interaction token past its 15 minutes, a 5xx), it is
sent as new messages instead (:meth:`Surface.rescue`), never left on "⏳ …".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import aiohttp
import discord

from adapters.discord.render import Outgoing, live_view, render
from bot.reply import Delta, Part, Reply, ReplyEvent

__all__ = ["AnswerStream", "LiveMessage", "MessageHandle", "Pacing", "Surface", "close_events"]

log = logging.getLogger(__name__)

_NO_REPLY = Reply(tone="error", text="No answer came back; please try again.")


@dataclass(frozen=True, slots=True)
class Pacing:
    """How often one message may be edited; the clock and sleep are injectable."""

    interval: float = 1.2
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class MessageHandle(Protocol):
    """A message the bot posted and may change."""

    async def edit(self, out: Outgoing) -> None: ...

    async def delete(self) -> None: ...


class Surface(Protocol):
    """Where one answer appears: an interaction's responses or a channel's messages."""

    @property
    def public(self) -> bool:
        """Whether people other than the asker can see what is posted."""
        ...

    async def post(self, out: Outgoing) -> MessageHandle:
        """Show a message (the first one may replace a "thinking…" placeholder)."""
        ...

    async def go_private(self, outs: Sequence[Outgoing]) -> None:
        """Withdraw what was posted in public and deliver ``outs`` to the asker alone."""
        ...

    async def rescue(self, outs: Sequence[Outgoing]) -> str:
        """Send ``outs`` as new messages, the answer having failed to show in place.

        In the channel when the answer was public there, else (or when that fails too)
        by DM; returns where they went, for the log. Raises when both fail.
        """
        ...


class LiveMessage:
    """One message edited in place, never more often than the pacing allows.

    ``_pending`` is the next version to send, if any: never one Discord already shows or
    is being sent (``_sending``), and it may be replaced or withdrawn at any moment while
    the flush task waits out the pacing, so the task reads it only after waiting.
    """

    def __init__(self, handle: MessageHandle, shown: Outgoing, pacing: Pacing) -> None:
        self.handle = handle
        self._shown = shown
        self._sending: Outgoing | None = None
        self._pending: Outgoing | None = None
        self._pacing = pacing
        self._last = pacing.clock()
        self._task: asyncio.Task[None] | None = None
        self.gone = False
        self.edits = 0

    def show(self, out: Outgoing) -> None:
        """Schedule ``out``; returns at once. Intermediate versions may be skipped."""
        if self.gone:
            return
        landing = self._sending or self._shown  # what the message shows once edits land
        self._pending = None if out.same_as(landing) else out
        if self._pending is not None and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._flush())

    async def settle(self, out: Outgoing) -> bool:
        """Show ``out`` as the final version; whether it is on Discord once this returns."""
        self.show(out)
        if self._task is not None:
            await self._task
        return not self.gone and out.same_as(self._shown)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _flush(self) -> None:
        while self._pending is not None and not self.gone:
            wait = self._last + self._pacing.interval - self._pacing.clock()
            if wait > 0:
                await self._pacing.sleep(wait)
                continue  # meanwhile the pending version may have changed or been withdrawn
            out, self._pending = self._pending, None
            self._sending = out
            try:
                await self.handle.edit(out)
            except discord.NotFound:
                log.info("a streamed message was deleted; no more edits to it")
                self.gone = True
            except discord.HTTPException as exc:
                log.warning(
                    "editing a streamed message failed: HTTP %s (code %s)", exc.status, exc.code
                )
            except (aiohttp.ClientError, OSError) as exc:
                log.warning("editing a streamed message failed: %s", type(exc).__name__)
            else:
                self._shown = out
                self.edits += 1
            finally:
                self._sending = None
                self._last = self._pacing.clock()


async def close_events(events: AsyncIterator[ReplyEvent]) -> None:
    """Stop a handler early (its provider stream too), when it is a generator."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


@dataclass(slots=True)
class _PartView:
    """What one part of a reply shows while it streams."""

    stream: AnswerStream
    text: str = ""
    status: str | None = None


class AnswerStream:
    """Shows one command's events on a surface: streamed text, progress, the reply."""

    def __init__(self, surface: Surface, pacing: Pacing | None = None) -> None:
        self._surface = surface
        self._pacing = pacing or Pacing()
        self._live: list[LiveMessage] = []
        #: Answers side by side (``/ask --compare``): each part is a message of its own.
        self._parts: dict[str, _PartView] = {}

    async def run(
        self,
        events: AsyncIterator[ReplyEvent],
        finish: Callable[[Reply], Reply] | None = None,
    ) -> Reply | None:
        """Consume ``events`` to the end; ``finish`` may adjust the reply before it shows."""
        text, status = "", None
        try:
            async for event in events:
                if isinstance(event, Reply):
                    reply = finish(event) if finish else event
                    await self.show_reply(reply)
                    return reply
                if isinstance(event, Part):
                    await self._part(event)
                    continue
                if isinstance(event, Delta):
                    text += event.text
                else:
                    status = event.text
                await self._show_live(live_view(text, status))
            await self.show_reply(_NO_REPLY)
            return None
        finally:
            await close_events(events)
            parts = [m for view in self._parts.values() for m in view.stream._live]
            for live in [*self._live, *parts]:
                await live.close()

    async def _part(self, part: Part) -> None:
        """One answer of several: its own message (an embed titled with the part's title
        once done), edited at the same pace as any streamed answer."""
        view = self._parts.get(part.key)
        if view is None:
            view = self._parts[part.key] = _PartView(AnswerStream(self._surface, self._pacing))
        event = part.event
        if isinstance(event, Reply):
            await view.stream.show_reply(replace(event, title=event.title or part.title))
            return
        if isinstance(event, Delta):
            view.text += event.text
        else:
            view.status = event.text
        await view.stream._show_live(live_view(f"**{part.title}**\n{view.text}", view.status))

    async def _show_live(self, contents: list[str]) -> None:
        for index, content in enumerate(contents):
            out = Outgoing(content)
            if index < len(self._live):
                self._live[index].show(out)
                continue
            try:
                handle = await self._surface.post(out)
            except (discord.Forbidden, discord.NotFound):
                raise  # the answer cannot be shown here at all
            except discord.HTTPException as exc:
                log.warning(
                    "posting a streamed message failed: HTTP %s (code %s); retrying "
                    "with the next update",
                    exc.status,
                    exc.code,
                )
                return
            self._live.append(LiveMessage(handle, out, self._pacing))

    async def show_reply(self, reply: Reply) -> None:
        outs = render(reply)
        if reply.private and self._surface.public:
            for live in self._live:
                await live.close()
            self._live.clear()
            await self._surface.go_private(outs)
            return
        for index, out in enumerate(outs):
            if index < len(self._live):
                if not await self._live[index].settle(out):
                    await self._rescue(outs, index, "editing it in place failed")
                    return
                continue
            try:
                await self._surface.post(out)
            except discord.Forbidden:
                raise  # the answer cannot be shown here at all
            except discord.HTTPException as exc:
                await self._rescue(outs, index, f"HTTP {exc.status} (code {exc.code})")
                return
        for extra in self._live[len(outs) :]:
            await extra.close()
            with contextlib.suppress(discord.NotFound):
                await extra.handle.delete()

    async def _rescue(self, outs: Sequence[Outgoing], start: int, why: str) -> None:
        """Part ``start`` of the reply failed to show: send it and the rest anew."""
        try:
            where = await self._surface.rescue(outs[start:])
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.error("an answer could not be shown (%s) nor sent anew: %s", why, exc)
            raise
        log.warning("an answer could not be shown in place (%s); sent it %s instead", why, where)
        for live in self._live[start:]:
            await live.close()
            with contextlib.suppress(discord.HTTPException):
                await live.handle.delete()  # its "⏳ …" would otherwise stand forever
        del self._live[start:]
