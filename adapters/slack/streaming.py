"""Answers that grow in place: Slack's chat streaming API, or paced edits.

:class:`NativeStream` uses slack-sdk's ``chat_stream`` (``chat.startStream`` /
``appendStream`` / ``stopStream``), which needs a thread to reply in.
:class:`LiveReply` posts a message and edits it with ``chat.update``, continuing in
the thread when the answer outgrows a message. Each message has its own :class:`Pacer`
(at most one edit per interval), and all messages of a workspace share one
:class:`EditBudget`: Slack counts chat.update per workspace (Tier 3, about 50 calls a
minute), so two answers paced on their own would already exceed it. On PostgreSQL, where
several instances may answer one workspace, that budget is a :class:`SharedEditBudget`:
every instance takes its workspace's edits from one bucket in the database.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from contextvars import ContextVar
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import FENCE, MESSAGE_CHARS, Block, SlackMessage, cut_at, open_fence
from byok.errors import DatabaseUnavailableError
from byok.shared_rate import OutageLog, SharedBucket, Taken

__all__ = [
    "DEFAULT_INTERVAL",
    "EDITS_PER_MINUTE",
    "EDIT_BURST",
    "INTERIM_EDIT",
    "EditBudget",
    "LiveReply",
    "NativeStream",
    "Pacer",
    "SharedEditBudget",
]

log = logging.getLogger(__name__)

#: Seconds between edits of one message: chat.update is Tier 3 (~50/minute/workspace).
DEFAULT_INTERVAL = 1.5

#: chat.update calls a workspace's answers may make per minute, all together (Tier 3 is
#: "50+"; some room is left for the final edits that take their token regardless).
EDITS_PER_MINUTE = 45.0
#: Edits a workspace may make at once after a quiet spell (Slack tolerates short bursts).
EDIT_BURST = 10

Clock = Callable[[], float]

#: Set while an interim edit is on its way: the client's rate-limit retry handler then
#: gives up at once (the next edit carries everything) and holds the budget back instead
#: of sleeping through Retry-After with the message's pacer locked.
INTERIM_EDIT: ContextVar[EditBudget | None] = ContextVar("slack_interim_edit", default=None)


class EditBudget:
    """A token bucket of chat.update calls shared by every live message of one workspace.

    Interim edits take a token only when one is there (:meth:`try_take`), else their
    pacer waits (:meth:`wait_s`) and the latest text goes when one is due: nothing is
    queued. A final edit is never held back (:meth:`spend`): it takes its token even when
    none is left, and the debt, bounded at ``burst``, holds interim edits back until it
    is repaid. The first edit of an answer goes at once while tokens are left.
    """

    def __init__(
        self,
        per_minute: float = EDITS_PER_MINUTE,
        burst: int = EDIT_BURST,
        clock: Clock = time.monotonic,
    ) -> None:
        self._rate = max(per_minute, 1e-9) / 60.0
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._level = self._burst
        self._stamp = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._level = min(self._burst, self._level + (now - self._stamp) * self._rate)
        self._stamp = now
        return self._level

    @property
    def level(self) -> float:
        """Tokens left now (negative while final edits are being repaid)."""
        return self._refill()

    def wait_s(self) -> float:
        """Seconds until an interim edit may take a token (0 when it may now)."""
        return max(0.0, (1.0 - self._refill()) / self._rate)

    async def try_take(self) -> bool:
        """Take a token for an interim edit if one is there."""
        if self._refill() < 1.0:
            return False
        self._level -= 1.0
        return True

    async def spend(self) -> None:
        """Take a token for a final edit, in debt if need be."""
        level = self._refill()
        # Bounded, so a burst of finals cannot silence interim edits for long; a debt
        # already deeper (Slack's own Retry-After) is kept.
        self._level = max(level - 1.0, min(level, -self._burst))

    async def hold(self, seconds: float) -> None:
        """Slack answered 429: no interim edit for ``seconds``."""
        self._level = min(self._refill(), 1.0 - seconds * self._rate)


class SharedEditBudget(EditBudget):
    """One workspace's :class:`EditBudget`, kept in the database for every instance.

    Each take, final edit and hold is one statement on the workspace's row of the shared
    bucket (scope ``slack.edit``). What this instance knows of the budget (:attr:`level`,
    :meth:`wait_s`, so a pacer's wait costs no query) is what the database said at the
    last of them, refilled since by this process's clock; when another instance took the
    token meanwhile, the take is refused and the view corrected. While the database
    cannot be reached the budget works as a local one, with one WARNING per outage.
    """

    def __init__(
        self,
        shared: SharedBucket,
        team: str,
        *,
        clock: Clock = time.monotonic,
        outage: OutageLog | None = None,
    ) -> None:
        super().__init__(60.0 / shared.interval, int(shared.burst), clock)
        self._shared = shared
        self._team = team
        self._outage = outage or self.outage_log()

    @staticmethod
    def outage_log() -> OutageLog:
        """Says once per outage that edits are paced per instance: share one per process."""
        return OutageLog(
            log, "slack: shared edit budget", "each instance paces its edits alone meanwhile"
        )

    async def try_take(self) -> bool:
        try:
            taken = await self._shared.take(self._team)
        except DatabaseUnavailableError as exc:
            self._outage.failed(exc)
            return await super().try_take()
        return self._seen(taken)

    async def spend(self) -> None:
        try:
            taken = await self._shared.take_in_debt(self._team, max_debt=self._burst)
        except DatabaseUnavailableError as exc:
            self._outage.failed(exc)
            await super().spend()
            return
        self._seen(taken)

    async def hold(self, seconds: float) -> None:
        try:
            taken = await self._shared.hold(self._team, seconds)
        except DatabaseUnavailableError as exc:
            self._outage.failed(exc)
            await super().hold(seconds)
            return
        self._seen(taken)

    def _seen(self, taken: Taken) -> bool:
        self._outage.worked()
        self._level = self._shared.tokens(taken.ahead_s)
        self._stamp = self._clock()
        return taken.allowed


#: Room kept in a streamed message to close a code fence open at its end.
_FENCE_ROOM = 8


class Pacer:
    """Calls ``flush`` at most once per ``interval`` for one message; the latest content wins.

    ``poke`` says the content changed. Flushes run in a background task, so the answer
    keeps arriving while Slack is called; ``close`` waits for a flush in flight. With a
    ``budget``, a flush also waits until the workspace's budget has a token for it.
    """

    def __init__(
        self,
        flush: Callable[[], Awaitable[None]],
        interval: float,
        clock: Clock = time.monotonic,
        budget: EditBudget | None = None,
    ) -> None:
        self._flush = flush
        self._interval = interval
        self._clock = clock
        self._budget = budget
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last = -math.inf
        self._closed = False

    def poke(self) -> None:
        if self._closed:
            return
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="slack-pacer")

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            delay = self._delay()
            if delay > 0:
                # Then look again: another message of the workspace may take the token.
                await asyncio.sleep(delay)
                continue
            async with self._lock:
                self._dirty.clear()
                self._last = self._clock()
                await self._flush()

    def _delay(self) -> float:
        """Seconds until this message's pace and its workspace's budget allow an edit."""
        paced = self._last + self._interval - self._clock()
        return max(paced, self._budget.wait_s() if self._budget is not None else 0.0)

    async def close(self) -> None:
        """Stop pacing; an edit already on its way to Slack is allowed to finish."""
        self._closed = True
        task, self._task = self._task, None
        if task is None:
            return
        async with self._lock:
            task.cancel()
        with suppress(asyncio.CancelledError):
            await task


class LiveReply:
    """The messages of one reply, kept in step with what should be shown: posted, then
    edited with chat.update.

    The first message goes to ``thread_ts`` (top level when None); continuations go to
    the thread. ``adopt`` takes over messages already posted (a stream that expired).
    """

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Clock = time.monotonic,
        adopt: Sequence[str] = (),
        budget: EditBudget | None = None,
    ) -> None:
        self._client = client
        self.channel = channel
        self._thread_ts = thread_ts
        self._sent: list[tuple[str, dict[str, Any] | None]] = [(ts, None) for ts in adopt]
        self._want: Callable[[], list[SlackMessage]] = list
        self._budget = budget
        self._pacer = Pacer(self._paced_sync, interval, clock, budget)

    @property
    def posted(self) -> list[str]:
        return [ts for ts, _ in self._sent]

    async def open(self, message: SlackMessage) -> None:
        """Post the first message now, so a channel the bot is not in fails at once."""
        await self._sync([message])

    def show(self, render: Callable[[], list[SlackMessage]]) -> None:
        """What should be shown next, rendered and sent when this message's pace allows."""
        self._want = render
        self._pacer.poke()

    async def finish(self, messages: list[SlackMessage]) -> None:
        await self._pacer.close()
        await self._sync(messages)

    async def delete(self) -> None:
        await self._pacer.close()
        for ts, _ in self._sent:
            with suppress(SlackApiError):
                await self._client.chat_delete(channel=self.channel, ts=ts)
        self._sent.clear()

    async def _paced_sync(self) -> None:
        budget = self._budget
        token = INTERIM_EDIT.set(budget)
        try:
            done = await self._sync(self._want(), interim=True)
        except SlackApiError as exc:
            # A lost intermediate edit is harmless: the final one carries everything.
            log.warning("slack: interim edit failed (%s)", exc.response.get("error"))
            done = exc.response.get("error") != "ratelimited"
        finally:
            INTERIM_EDIT.reset(token)
        if not done:
            self._pacer.poke()  # the latest text goes when the budget has a token again

    async def _sync(self, messages: list[SlackMessage], *, interim: bool = False) -> bool:
        """Post, edit and delete until Slack shows ``messages``.

        An interim sync stops (returning False) where the budget has no token left for
        an edit; a final one spends tokens regardless.
        """
        budget = self._budget
        for index, message in enumerate(messages):
            payload = message.payload()
            if index < len(self._sent):
                ts, last = self._sent[index]
                if last != payload:
                    if budget is not None:
                        if not interim:
                            await budget.spend()
                        elif not await budget.try_take():
                            return False
                    await self._client.chat_update(channel=self.channel, ts=ts, **payload)
                    self._sent[index] = (ts, payload)
                continue
            thread = self._thread_ts or (self._sent[0][0] if self._sent else None)
            response = await self._client.chat_postMessage(
                channel=self.channel,
                thread_ts=thread,
                unfurl_links=False,
                unfurl_media=False,
                **payload,
            )
            self._sent.append((str(response["ts"]), payload))
        for ts, _ in self._sent[len(messages) :]:
            await self._client.chat_delete(channel=self.channel, ts=ts)
        del self._sent[len(messages) :]
        return True


class NativeStream:
    """An answer streamed with Slack's chat streaming API into a thread.

    When Slack refuses a stream call, ``failed`` is set and the caller continues with a
    :class:`LiveReply` adopting :attr:`posted`.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        *,
        team_id: str | None,
        user_id: str | None,
        interval: float = DEFAULT_INTERVAL,
        clock: Clock = time.monotonic,
        message_chars: int = MESSAGE_CHARS,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._team_id = team_id
        self._user_id = user_id
        self._stream: AsyncChatStream | None = None
        self._pending = ""
        self._in_message = 0
        self._shown = ""  # this message's text so far, to know if a code fence is open
        self._message_chars = message_chars
        self.posted: list[str] = []
        self.failed: SlackApiError | None = None
        self._pacer = Pacer(self._paced_flush, interval, clock)

    def append(self, text: str) -> None:
        self._pending += text
        self._pacer.poke()

    async def finish(self, tail: list[Block]) -> None:
        """Send what is left and close the stream with ``tail`` (sections, footer) below."""
        await self._pacer.close()
        if self.failed is not None:
            return
        try:
            await self._flush(final=True)
            assert self._stream is not None
            await self._stream.stop(blocks=tail or None)
        except SlackApiError as exc:
            self.failed = exc

    async def abandon(self) -> None:
        await self._pacer.close()

    async def _paced_flush(self) -> None:
        if self.failed is not None:
            return
        try:
            await self._flush(final=False)
        except SlackApiError as exc:
            log.info("slack: chat stream refused (%s); editing instead", exc.response.get("error"))
            self.failed = exc

    async def _open(self) -> AsyncChatStream:
        stream = await self._client.chat_stream(
            buffer_size=1,  # the pacer decides when to send
            channel=self._channel,
            thread_ts=self._thread_ts,
            recipient_team_id=self._team_id,
            recipient_user_id=self._user_id,
        )
        self._stream = stream
        self._in_message = 0
        self._shown = ""
        return stream

    async def _flush(self, *, final: bool) -> None:
        text, self._pending = self._pending, ""
        stream = self._stream or await self._open()
        limit = self._message_chars - _FENCE_ROOM
        while self._in_message + len(text) > limit:
            # Cut at a boundary; a code fence open there is closed in this message and
            # reopened, with its language, in the next (as the chat.update path does).
            cut = cut_at(text, limit - self._in_message)
            head, text = text[:cut].rstrip(), text[cut:].lstrip("\n ")
            language = open_fence(self._shown + head)
            if language is not None:
                head += "\n" + FENCE
                text = FENCE + language + "\n" + text
            if head:
                await self._append(stream, head)
            await stream.stop()
            stream = await self._open()
        if text or (final and stream.ts is None):
            await self._append(stream, text or " ")

    async def _append(self, stream: AsyncChatStream, text: str) -> None:
        await stream.append(markdown_text=text)
        self._in_message += len(text)
        self._shown += text
        if stream.ts and stream.ts not in self.posted:
            self.posted.append(stream.ts)
