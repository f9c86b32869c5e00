"""The boundary every command passes: parse, run, turn errors into helpful replies.

Errors the user can fix become their text (``bot.remedy_text``: what went wrong, and
what to do in this bot's commands). Anything unexpected is logged
with an incident id and answered "Something went wrong (ref …)"; its text never
reaches the chat, since it could hold a secret or a provider's raw body.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Protocol

from bot.alert_delivery import refusal_notices, spending_section
from bot.commands import keys
from bot.commands.spec import ChatCommand, Handler
from bot.commands.table import COMMAND_HINTS, COMMANDS_BY_NAME, command_named, subcommand_named
from bot.context import BotContext
from bot.failure_summary import failure_text
from bot.grammar import CommandError, closest
from bot.incidents import record_incident
from bot.inflight import InFlightWork
from bot.invocation import Invocation
from bot.reply import Reply, ReplyEvent, SecretRequest, closed_after
from byok.errors import AllProvidersFailedError, ByokError
from byok.remedies import AddKey
from byok.secret import Secret, looks_like_key

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class CommandMetrics(Protocol):
    def command_started(self, platform: str, command: str) -> None: ...

    def command_finished(self) -> None: ...

    def adapter_error(self, platform: str, kind: str) -> None: ...


def _with_subcommand(command: ChatCommand, inv: Invocation) -> tuple[Handler, Invocation]:
    """The handler the text's first word picks, and the invocation without that word."""
    if not command.subcommands:
        return command.handler, inv
    words = inv.text.split(maxsplit=1)
    if not words:
        return command.handler, inv
    sub = subcommand_named(command, words[0])
    if sub is None:
        names = [s.name for s in command.subcommands]
        guess = closest(words[0].lower(), names)
        hint = f" Did you mean `/{command.name} {guess}`?" if guess else ""
        raise CommandError(
            f"Unknown `/{command.name} {words[0]}`.{hint} Choose one of: {', '.join(names)}."
        )
    return sub.handler, replace(inv, text=words[1] if len(words) > 1 else "")


def _is_key_entry(inv: Invocation) -> bool:
    return inv.command == "byok" and inv.text.split(maxsplit=1)[:1] == ["add"]


class Dispatcher:
    """Runs commands for every adapter, and knows how many are running (for shutdown)."""

    def __init__(self, ctx: BotContext, metrics: CommandMetrics | None = None) -> None:
        # Handlers word errors' remedies as the commands of the table run here.
        self.ctx = replace(ctx, hints=COMMAND_HINTS) if ctx.hints.empty else ctx
        self._metrics = metrics
        #: The commands running now: shutdown waits for them, then cancels the rest.
        self.work = InFlightWork()
        self.accepting = True

    @property
    def in_flight(self) -> int:
        return self.work.active

    async def drain(self, grace_s: float) -> bool:
        """Stop taking new commands and wait for running ones; False if time ran out."""
        self.accepting = False
        return await self.work.wait_idle(grace_s)

    def adapter_error(self, platform: str, kind: str) -> None:
        """An adapter could not talk to its chat platform (counted in the metrics)."""
        if self._metrics is not None:
            self._metrics.adapter_error(platform, kind)

    async def cancel_running(self, wait_s: float) -> int:
        """Cancel the commands still running (after the grace period) and wait for them.

        Cancelling lets each one finish its bookkeeping (an attempt in progress is
        recorded as cancelled) before the engine closes. Returns how many were cancelled.
        """
        stopped = await self.work.cancel_rest(wait_s)
        if stopped.still_running:
            log.warning("%d command(s) did not stop after being cancelled", stopped.still_running)
        return stopped.cancelled

    async def run(self, inv: Invocation) -> AsyncIterator[ReplyEvent]:
        if not self.accepting:
            yield Reply(
                tone="warning",
                text="The bot is restarting and not taking new requests. Try again in a minute.",
            )
            return
        command = command_named(inv.command)
        if self._metrics is not None:
            name = command.name if command is not None else inv.command.lower()
            self._metrics.command_started(inv.platform, name)
        try:
            with self.work.track():
                async with closed_after(self._run(inv, command)) as events:
                    async for event in events:
                        yield event
        finally:
            if self._metrics is not None:
                self._metrics.command_finished()

    async def _run(self, inv: Invocation, command: ChatCommand | None) -> AsyncIterator[ReplyEvent]:
        if command is None:
            guess = closest(inv.command.lower(), list(COMMANDS_BY_NAME))
            hint = f" Did you mean `/{guess}`?" if guess else ""
            yield Reply(
                tone="error",
                text=f"Unknown command `/{inv.command}`.{hint} Try `/help`.",
            )
            return
        if looks_like_key(inv.text) and not _is_key_entry(inv):
            yield Reply(
                tone="error",
                title="Not sent",
                text=(
                    "Your message contains what looks like an API key or token, so it was "
                    "not sent to any provider or stored. Treat that key as exposed: revoke it "
                    "at the provider and add a new one privately with "
                    f"{self.ctx.hints.remedy_text(AddKey())}."
                ),
            )
            return
        async with closed_after(
            self._guarded(command, replace(inv, command=command.name))
        ) as events:
            async for event in events:
                yield event

    async def submit_key(self, inv: Invocation, request: SecretRequest, key: str) -> Reply:
        """The second half of ``/byok add``: the key the adapter collected privately."""
        if not self.accepting:
            return Reply(
                tone="error",
                text="The bot is restarting; nothing was stored — please try again in a minute.",
            )
        with self.work.track():
            try:
                return await keys.add_key(self.ctx, inv, request, Secret(key))
            except Exception as exc:  # noqa: BLE001 - this is the boundary
                return _error_reply(exc, inv, self.ctx)

    async def _guarded(self, command: ChatCommand, inv: Invocation) -> AsyncIterator[ReplyEvent]:
        try:
            handler, inv_for_handler = _with_subcommand(command, inv)
            async with closed_after(handler(inv_for_handler, self.ctx)) as events:
                async for event in events:
                    yield event
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            yield _error_reply(exc, inv, self.ctx)


def _error_reply(exc: Exception, inv: Invocation, ctx: BotContext) -> Reply:
    if isinstance(exc, ByokError):
        log.info("command /%s refused: %s", inv.command, exc)
        names, hints = ctx.provider_names, ctx.hints
        spending = spending_section(refusal_notices(exc), names)  # a limit's 100% notice
        text = (
            failure_text(exc, names, hints)
            if isinstance(exc, AllProvidersFailedError)
            else hints.error_text(exc)
        )
        return Reply(tone="error", text=text, sections=(spending,) if spending else ())
    incident = record_incident(log, f"command /{inv.command}", exc)
    return Reply(tone="error", text=incident.message)
