"""What every Slack listener shares: the dispatcher, background work, and where to reply.

Listeners acknowledge Slack at once and hand slow work to :meth:`Runtime.spawn`. Each
spawned job runs inside this adapter's boundary: an unexpected error is logged with an
incident id, the user is told the id, and nothing else stops.

Slack delivers an Events API event again when it is not acknowledged in time, possibly
to another instance (another Socket Mode connection, or another instance behind a load
balancer): work for an event is spawned with ``first_of=body``, and only the first
delivery of its ``event_id``, on any instance sharing the database, does it
(:mod:`bot.once`). Slash commands, shortcuts, block actions and view submissions are not
retried by Slack, so they are not checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.delivery import Delivery, SecretOpener, SlackOptions, Target
from adapters.slack.render import SlackMessage, context_block
from adapters.slack.streaming import EditBudget, SharedEditBudget
from bot.commands.table import command_named
from bot.dispatch import Dispatcher
from bot.history_notice import HISTORY_OFF
from bot.incidents import Incident, record_incident
from bot.inflight import InFlightWork
from bot.invocation import Attachment, Invocation
from bot.lookup import history_allowed
from bot.once import EventLedger
from bot.provider_names import ProviderNames
from bot.reply import Reply, Section
from byok.shared_rate import OutageLog, SharedBucket

__all__ = ["Runtime", "command_in", "invocation"]

log = logging.getLogger(__name__)

_CONVERSATIONS = 10_000
#: Below the first answer that could not see a conversation's earlier messages.

FailureHandler = Callable[[Incident], Awaitable[None]]
HomePublisher = Callable[[AsyncWebClient, str, str], Coroutine[Any, Any, None]]


def invocation(
    *,
    team: str,
    user: str,
    channel: str,
    private: bool,
    command: str,
    text: str = "",
    thread: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    user_name: str | None = None,
) -> Invocation:
    return Invocation(
        platform="slack",
        workspace=team,
        user=user,
        channel=channel,
        private=private,
        command=command,
        text=text,
        attachments=attachments,
        thread=thread,
        user_name=user_name,
    )


def command_in(text: str) -> tuple[str, str]:
    """A DM's text as (command, rest): ``/usage week`` is /usage, anything else /ask.

    Slack keeps real slash commands out of messages, so a leading ``/word`` here was
    typed by hand or sent by a suggested prompt.
    """
    stripped = text.strip()
    if stripped.startswith("/"):
        name, _, rest = stripped[1:].partition(" ")
        command = command_named(name)
        if command is not None:
            return command.name, rest.strip()
    return "ask", stripped


@dataclass(slots=True)
class Runtime:
    dispatcher: Dispatcher
    options: SlackOptions = field(default_factory=SlackOptions)
    #: Set by the App Home module: republishes a user's Home after their settings change.
    home_publisher: HomePublisher | None = None
    #: The jobs running after Slack was acknowledged: stop() waits for them, then cancels.
    work: InFlightWork = field(default_factory=InFlightWork)
    _bot_dms: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Conversations answered lately (bounded), and whether they were told history is off.
    _conversations: OrderedDict[str, bool] = field(default_factory=OrderedDict)
    #: Each workspace's chat.update budget, shared by all its answers (bounded).
    _budgets: OrderedDict[str, EditBudget] = field(default_factory=OrderedDict)
    #: Which events some instance has taken (see :meth:`first_delivery`).
    events: EventLedger = field(init=False)
    #: On PostgreSQL, the workspaces' budgets every instance shares; None on SQLite.
    _shared_edits: SharedBucket | None = field(init=False)
    _edits_outage: OutageLog = field(init=False)

    def __post_init__(self) -> None:
        database = self.dispatcher.ctx.engine.database
        self.events = EventLedger(database)
        options = self.options
        self._shared_edits = None
        if database.dialect == "postgresql":
            self._shared_edits = SharedBucket(
                database,
                "slack.edit",
                per_second=options.edits_per_minute / 60.0,
                burst=options.edit_burst,
            )
        self._edits_outage = SharedEditBudget.outage_log()

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return self.dispatcher.ctx.provider_ids

    @property
    def provider_names(self) -> ProviderNames:
        """How the providers are named to people; ids stay as the values forms send."""
        return self.dispatcher.ctx.provider_names

    def spawn(
        self,
        work: Coroutine[Any, Any, Any],
        *,
        what: str,
        on_failure: FailureHandler | None = None,
        first_of: Mapping[str, Any] | None = None,
    ) -> asyncio.Task[Any]:
        """Run ``work`` after the listener has acknowledged Slack.

        With ``first_of`` (an Events API body), only if this is the event's first delivery.
        """
        return self.work.start(
            self._guarded(work, what, on_failure, first_of), name=f"slack:{what}"
        )

    async def first_delivery(self, body: Mapping[str, Any]) -> bool:
        """Whether no instance has taken this Events API event (``body``) before."""
        event_id = body.get("event_id")
        if not event_id:
            return True
        if await self.events.first_delivery(f"slack:event:{event_id}"):
            return True
        log.info("slack: event %s delivered again; it was taken already", event_id)
        return False

    async def _guarded(
        self,
        work: Coroutine[Any, Any, Any],
        what: str,
        on_failure: FailureHandler | None,
        first_of: Mapping[str, Any] | None,
    ) -> Any:
        try:
            if first_of is not None and not await self.first_delivery(first_of):
                return None
            return await work
        except Exception as exc:  # noqa: BLE001 - the adapter's boundary: record_incident logs it
            incident = record_incident(log, f"slack: {what}", exc)
            if on_failure is not None:
                try:
                    await on_failure(incident)
                except Exception as again:  # noqa: BLE001 - reporting must not fail louder
                    log.warning(
                        "slack: could not report incident %s (%s)",
                        incident.ref,
                        type(again).__name__,
                    )
            return None
        finally:
            work.close()  # nothing once it ran; a repeat's work is dropped unstarted

    def refresh_home(self, client: AsyncWebClient, team: str, user: str) -> None:
        if self.home_publisher is not None:
            self.spawn(self.home_publisher(client, team, user), what="App Home refresh")

    async def drain(self, grace_s: float | None = None) -> bool:
        """Wait until all background work (including work it started) has finished.

        False if ``grace_s`` ran out first.
        """
        return await self.work.wait_idle(grace_s)

    async def close(self) -> None:
        """Cancel the background work still running and wait for it to end."""
        await self.work.cancel_rest()

    async def bot_dm(self, client: AsyncWebClient, team: str, user: str) -> str | None:
        """The id of the user's direct conversation with the bot (cached)."""
        cached = self._bot_dms.get((team, user))
        if cached is not None:
            return cached
        try:
            response = await client.conversations_open(users=user)
        except SlackApiError as exc:
            log.info("slack: no DM with a user (%s)", exc.response.get("error"))
            return None
        channel = str(response["channel"]["id"])
        if len(self._bot_dms) > 10_000:
            self._bot_dms.clear()
        self._bot_dms[(team, user)] = channel
        return channel

    def edit_budget(self, team: str | None) -> EditBudget:
        """The chat.update budget every answer streaming in workspace ``team`` shares."""
        key = team or ""
        budget = self._budgets.get(key)
        if budget is None:
            options = self.options
            if self._shared_edits is not None:
                budget = SharedEditBudget(
                    self._shared_edits, key, clock=options.clock, outage=self._edits_outage
                )
            else:
                budget = EditBudget(options.edits_per_minute, options.edit_burst, options.clock)
            self._budgets[key] = budget
            while len(self._budgets) > _CONVERSATIONS:
                self._budgets.popitem(last=False)
        self._budgets.move_to_end(key)
        return budget

    def delivery(
        self,
        client: AsyncWebClient,
        target: Target,
        *,
        bot_user_id: str | None,
        open_secret: SecretOpener | None = None,
        notes: tuple[Section, ...] = (),
    ) -> Delivery:
        return Delivery(
            client,
            target,
            self.options,
            bot_user_id=bot_user_id,
            open_secret=open_secret,
            notes=notes,
            budget=self.edit_budget(target.team),
        )

    async def deliver(
        self,
        client: AsyncWebClient,
        target: Target,
        inv: Invocation,
        *,
        bot_user_id: str | None,
        open_secret: SecretOpener | None = None,
        conversation: str | None = None,
        earlier: bool = False,
    ) -> Reply | None:
        """Run one command and show its events at ``target``.

        ``conversation`` names the thread or DM (``inv.thread`` when None); ``earlier``
        says it had messages before this one for sure (a channel thread's root), and one
        already answered has them too. Without history allowed, the first answer after
        them says they were not sent.
        """
        key = conversation or inv.thread
        ignored = key is not None and await self._history_ignored(key, inv, earlier=earlier)
        notes = (HISTORY_OFF,) if ignored else ()
        delivery = self.delivery(
            client, target, bot_user_id=bot_user_id, open_secret=open_secret, notes=notes
        )
        return await delivery.run(self.dispatcher.run(inv))

    async def _history_ignored(self, key: str, inv: Invocation, *, earlier: bool) -> bool:
        """Whether to say that earlier messages of this conversation were not sent."""
        if inv.command != "ask":
            return False
        told = self._conversations.get(key)
        self._conversations[key] = bool(told)
        self._conversations.move_to_end(key)
        while len(self._conversations) > _CONVERSATIONS:
            self._conversations.popitem(last=False)
        if told or not (earlier or told is not None):
            return False
        if await history_allowed(self.dispatcher.ctx, inv.user_ref):
            return False
        self._conversations[key] = True
        return True

    def failure_reporter(
        self, client: AsyncWebClient, target: Target, bot_user_id: str | None
    ) -> FailureHandler:
        """Tells the user an incident id when their work failed unexpectedly."""

        async def report(incident: Incident) -> None:
            text = f":warning: {incident.message}"
            message = SlackMessage(text=text, blocks=[context_block(text)])
            delivery = self.delivery(client, target, bot_user_id=bot_user_id)
            if target.response_url:
                await delivery.respond(message)
            else:
                await delivery.ephemeral([message])

        return report
