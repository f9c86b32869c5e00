"""What happens when a user runs an application command, submits a modal, autocompletes or
uses a control of the settings panel.

Every interaction is acknowledged first — deferred (type 5), a modal (type 9) or
autocomplete choices (type 8) — well within Discord's 3 seconds, then answered through
the dispatcher by editing the deferred response. Private things (keys, usage, help,
errors, the settings panel) are ephemeral. A panel control's answer edits the panel in
place (UPDATE_MESSAGE, type 7), or — when the command takes longer than the budget —
acknowledges first (type 6) and edits it when done. :meth:`InteractionFlows.boundary` is the adapter's boundary for
one interaction: Discord refusals are logged and, where possible, explained to the
user; nothing escapes into discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands

from adapters.discord.identity import chain_thread, dm_thread, invocation
from adapters.discord.images import ImageRefusedError, download_images
from adapters.discord.modals import (
    PASTE_FORM,
    KeyForm,
    KeyModal,
    TranscriptModal,
    form_values,
)
from adapters.discord.panel import (
    ADD_KEY,
    CHOOSE_MODEL,
    ModelForm,
    PanelControl,
    PanelMessage,
    is_panel,
    model_modal,
    panel_message,
)
from adapters.discord.render import render
from adapters.discord.streaming import AnswerStream, Pacing, close_events
from adapters.discord.surfaces import Interaction, InteractionSurface
from adapters.downloads import DownloadFailedError, TooLargeError, download_capped
from bot.dispatch import Dispatcher
from bot.incidents import record_incident
from bot.inflight import InFlightWork
from bot.invocation import Attachment, Invocation
from bot.lookup import ModelLookup
from bot.panel import PanelReply
from bot.reply import Reply, ReplyEvent, SecretRequest
from bot.summaries.transcripts import max_transcript_bytes, too_large_message

__all__ = ["InteractionFlows", "command_text"]

log = logging.getLogger(__name__)

_FIRST_RESPONSE_BUDGET = 2.0  # seconds of Discord's 3 we allow ourselves before answering
_STOPPING = "The bot is restarting; please try again in a minute."
_OPEN_PASTES = 500  # transcript forms remembered; the oldest is forgotten first


@dataclass(frozen=True, slots=True)
class _Paste:
    """An open transcript form: whose it is and the options it was opened with."""

    owner: int
    flags: Mapping[str, object]
    private: bool


def command_text(
    *words: str | None, flags: Mapping[str, object] | None = None, free: str | None = None
) -> str:
    """Command text in the bot's grammar: words, ``--flags``, then ``-- free text``."""
    parts = [w for w in words if w]
    for name, value in (flags or {}).items():
        if value is True:
            parts.append(f"--{name}")  # a switch (--fresh)
        elif value is not None:
            parts += [f"--{name}", str(value)]
    if free is not None:
        parts += ["--", free]
    return " ".join(parts)


async def _first_reply(events: AsyncIterator[ReplyEvent]) -> Reply:
    try:
        async for event in events:
            if isinstance(event, Reply):
                return event
    finally:
        await close_events(events)
    return Reply(tone="error", text="No answer came back; please try again.")


class InteractionFlows:
    """The bot's side of every interaction."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        models: ModelLookup,
        inflight: InFlightWork,
        pacing: Pacing,
    ) -> None:
        self.dispatcher = dispatcher
        self._models = models
        self._inflight = inflight
        self._pacing = pacing
        self.accepting = True
        self._pastes: OrderedDict[str, _Paste] = OrderedDict()

    @property
    def max_attachment_bytes(self) -> int:
        return max_transcript_bytes(self.dispatcher.ctx.max_transcript_chars)

    def _name(self, provider_id: str) -> str:
        """The provider as people know it, for a form's title."""
        return self.dispatcher.ctx.provider_names.label(provider_id)

    # -- the boundary -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def boundary(self, interaction: Interaction) -> AsyncIterator[bool]:
        """Track the interaction and handle every failure; yields False while stopping."""
        with self._inflight.track(interaction.id):
            if not self.accepting:
                await self.tell(interaction, _STOPPING)
                yield False
                return
            try:
                yield True
            except discord.NotFound as exc:
                what = "expired before it was answered" if exc.code == 10062 else "lost"
                log.warning("interaction %s %s (HTTP 404, code %s)", interaction.id, what, exc.code)
            except discord.Forbidden as exc:
                log.warning(
                    "Discord refused an answer to interaction %s: missing permissions (code %s)",
                    interaction.id,
                    exc.code,
                )
                await self.tell(
                    interaction,
                    "I'm missing a permission here (Send Messages, "
                    "Embed Links or Attach Files); ask a server admin.",
                )
            except discord.HTTPException as exc:
                log.warning(
                    "Discord refused an answer to interaction %s: HTTP %s (code %s)",
                    interaction.id,
                    exc.status,
                    exc.code,
                )
                await self.tell(interaction, "Discord didn't accept my answer; please try again.")
            except Exception as exc:  # noqa: BLE001 - the adapter's boundary: record_incident logs it
                incident = record_incident(log, f"interaction {interaction.id}", exc)
                await self.tell(interaction, incident.message)

    async def tell(self, interaction: Interaction, text: str) -> None:
        """A short ephemeral note, by whatever response is still possible."""
        try:
            if interaction.type is discord.InteractionType.autocomplete:
                if not interaction.response.is_done():
                    await interaction.response.autocomplete([])
            elif not interaction.response.is_done():
                await interaction.response.send_message(text, ephemeral=True)
            else:
                await interaction.followup.send(text, ephemeral=True)
        except (discord.HTTPException, discord.InteractionResponded) as exc:
            log.info("could not tell the user about a failure: %s", type(exc).__name__)

    # -- running commands -------------------------------------------------------------

    def _invocation(
        self,
        interaction: Interaction,
        command: str,
        text: str,
        *,
        private: bool,
        attachments: Sequence[Attachment] = (),
        conversation: bool = False,
    ) -> Invocation:
        dm = interaction.guild_id is None
        channel = interaction.channel_id or 0
        thread = None
        if conversation and dm:
            thread = dm_thread(channel)
        elif conversation and not private:  # an ephemeral answer can't be replied to
            thread = chain_thread(channel, interaction.id)
        return invocation(
            interaction.user,
            interaction.channel_id,
            command,
            text,
            private=private or dm,
            attachments=attachments,
            thread=thread,
        )

    async def _answer(
        self, interaction: Interaction, inv: Invocation, *, ephemeral: bool, deferred: bool = False
    ) -> None:
        if not deferred:
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        surface = InteractionSurface(interaction, ephemeral=ephemeral)
        await AnswerStream(surface, self._pacing).run(self.dispatcher.run(inv))

    async def private_command(self, interaction: Interaction, command: str, text: str) -> None:
        """``/byok …``, ``/usage``, ``/help``: answered to the user alone."""
        async with self.boundary(interaction) as serving:
            if serving:
                inv = self._invocation(interaction, command, text, private=True)
                await self._answer(interaction, inv, ephemeral=True)

    async def ask(
        self,
        interaction: Interaction,
        prompt: str,
        flags: Mapping[str, object],
        *,
        private: bool,
        image: discord.Attachment | None = None,
    ) -> None:
        """The question, with an attached image when there is one (downloaded bounded)."""
        async with self.boundary(interaction) as serving:
            if not serving:
                return
            attachments: tuple[Attachment, ...] = ()
            if image is not None:
                await interaction.response.defer(ephemeral=private, thinking=True)
                try:
                    attachments = await download_images([image])
                except ImageRefusedError as exc:
                    surface = InteractionSurface(interaction, ephemeral=private)
                    refusal = Reply(tone="error", text=str(exc))
                    await AnswerStream(surface, self._pacing).show_reply(refusal)
                    return
            text = command_text(flags=flags, free=prompt)
            inv = self._invocation(
                interaction, "ask", text, private=private, attachments=attachments,
                conversation=True,
            )  # fmt: skip
            await self._answer(interaction, inv, ephemeral=private, deferred=image is not None)

    # -- the settings panel ---------------------------------------------------------------

    async def _panel(
        self,
        interaction: Interaction,
        focus: str | None = None,
        *,
        notice: Reply | None = None,
        confirming: bool = False,
    ) -> PanelMessage:
        """The panel as it stands now (``/home`` through the dispatcher), for this user."""
        home = await _first_reply(
            self.dispatcher.run(self._invocation(interaction, "home", "", private=True))
        )
        return panel_message(home, interaction.user.id, focus, notice=notice, confirming=confirming)

    async def panel(self, interaction: Interaction) -> None:
        """``/byok panel`` and ``/settings``: the panel, to the user alone."""
        async with self.boundary(interaction) as serving:
            if serving:
                await interaction.response.defer(ephemeral=True, thinking=True)
                shown = await self._panel(interaction)
                await interaction.edit_original_response(**shown.edit_kwargs())

    async def press(self, interaction: Interaction) -> None:
        """A panel control: run its command, then show the panel again in place."""
        async with self.boundary(interaction) as serving:
            if not serving:
                return
            data: Mapping[str, Any] = interaction.data or {}
            control = PanelControl.parse(str(data.get("custom_id", "")))
            if control is None:
                log.info("a control this version doesn't know was used; asked to reopen")
                await self.tell(interaction, "This panel is out of date; run `/byok panel` again.")
            elif control.owner != interaction.user.id:
                await self.tell(
                    interaction, "This panel isn't yours; open your own with `/byok panel`."
                )
            elif control.verb == ADD_KEY:
                form = KeyForm(control.focus, control.owner)
                await interaction.response.send_modal(KeyModal(form, self._name(control.focus)))
            elif control.verb == CHOOSE_MODEL:
                await self._open_model_form(interaction, ModelForm(control.focus, control.owner))
            else:
                values = [str(v) for v in data.get("values") or []]
                await self._update_panel(interaction, self._after(interaction, control, values))

    async def _open_model_form(self, interaction: Interaction, form: ModelForm) -> None:
        """The preferred-model modal, holding the current choice (a modal answers first)."""
        inv = self._invocation(interaction, "home", "", private=True)
        try:
            async with asyncio.timeout(_FIRST_RESPONSE_BUDGET):
                home = await _first_reply(self.dispatcher.run(inv))
        except TimeoutError:
            home = Reply(tone="error", text="That took too long; please try again.")
        facts = home.facts if isinstance(home, PanelReply) else None
        if facts is None:
            await self.tell(interaction, home.text)
            return
        current = facts.prefs.preferred_model(form.provider_id)
        name = facts.names.label(form.provider_id)
        await interaction.response.send_modal(model_modal(form, current, name))

    async def _after(
        self, interaction: Interaction, control: PanelControl, values: Sequence[str]
    ) -> PanelMessage:
        command = control.command(values)
        if command is None:
            focus = values[0] if control.verb == "focus" and values else control.focus
            return await self._panel(interaction, focus, confirming=control.verb == "ask-remove")
        inv = self._invocation(interaction, "byok", command, private=True)
        notice = await _first_reply(self.dispatcher.run(inv))
        return await self._panel(interaction, control.focus, notice=notice)

    async def _update_panel(self, interaction: Interaction, panel: Awaitable[PanelMessage]) -> None:
        """Edit the panel in place: at once (type 7), or acknowledged first (type 6) if slow.

        The work is never cancelled by the budget: a command the user started finishes.
        """
        work = asyncio.ensure_future(panel)
        try:
            done, _ = await asyncio.wait({work}, timeout=_FIRST_RESPONSE_BUDGET)
            if not done:
                await interaction.response.defer()  # DEFERRED_UPDATE_MESSAGE
        finally:
            shown = await work
        if interaction.response.is_done():
            await interaction.edit_original_response(**shown.edit_kwargs())
        else:
            await interaction.response.edit_message(**shown.edit_kwargs())

    # -- keys: the modal ------------------------------------------------------------------

    async def byok_add(self, interaction: Interaction, provider: str) -> None:
        """Open the key modal at once: a modal must be the interaction's first response."""
        async with self.boundary(interaction) as serving:
            if not serving:
                return
            inv = self._invocation(interaction, "byok", f"add {provider}", private=True)
            try:
                async with asyncio.timeout(_FIRST_RESPONSE_BUDGET):
                    reply = await _first_reply(self.dispatcher.run(inv))
            except TimeoutError:
                reply = Reply(tone="error", text="That took too long; please try again.")
            if reply.secret_request is not None:
                form = KeyForm(reply.secret_request.provider_id, interaction.user.id)
                await interaction.response.send_modal(KeyModal(form, self._name(form.provider_id)))
            else:
                await interaction.response.send_message(
                    **render(reply)[0].send_kwargs(), ephemeral=True
                )

    async def submit_form(self, interaction: Interaction) -> None:
        """Every modal submit, routed by its ``custom_id``; the typed values are never logged.

        A submit this process cannot place (a transcript form opened before a restart,
        or a form of an older version) is answered with a note to run the command again,
        instead of Discord's bare "Something went wrong".
        """
        data: Mapping[str, Any] = interaction.data or {}
        custom_id = str(data.get("custom_id", ""))
        values = form_values(data)
        key_form = KeyForm.parse(custom_id)
        model_form = ModelForm.parse(custom_id)
        kind, _, token = custom_id.partition(":")
        paste = self._pastes.get(token) if kind == PASTE_FORM else None
        owner = next((f.owner for f in (key_form, model_form, paste) if f is not None), None)
        if owner is not None and owner != interaction.user.id:
            with self._inflight.track(interaction.id):
                await self.tell(interaction, "This form isn't yours.")
        elif model_form is not None:
            control = model_form.control(values.get("model", ""))
            async with self.boundary(interaction) as serving:
                if serving:
                    await self._update_panel(interaction, self._after(interaction, control, []))
        elif key_form is not None:
            request = SecretRequest(
                key_form.provider_id,
                label=values.get("label", "").strip() or None,
                monthly_limit=values.get("limit", "").strip() or None,
            )
            if is_panel(interaction.message, key_form.owner):
                await self.submit_key_to_panel(interaction, request, values.get("key", ""))
            else:
                await self.submit_key(interaction, request, values.get("key", ""))
        elif paste is not None:
            del self._pastes[token]
            text = TranscriptModal.pasted(values)
            await self.submit_transcript(interaction, text, paste.flags, private=paste.private)
        else:
            log.info("a form this process doesn't know was submitted; asked to reopen it")
            command = "/summarize" if kind == PASTE_FORM else "/byok add <provider>"
            with self._inflight.track(interaction.id):
                await self.tell(
                    interaction,
                    f"This form expired (the bot restarted); run `{command}` again.",
                )

    async def submit_key(self, interaction: Interaction, request: SecretRequest, key: str) -> None:
        """The key form's submit: validate and store the key, answer the user alone."""
        async with self.boundary(interaction) as serving:
            if serving:
                inv = self._invocation(
                    interaction, "byok", f"add {request.provider_id}", private=True
                )
                await interaction.response.defer(ephemeral=True, thinking=True)
                reply = await self.dispatcher.submit_key(inv, request, key)
                surface = InteractionSurface(interaction, ephemeral=True)
                await AnswerStream(surface, self._pacing).show_reply(reply)

    async def submit_key_to_panel(
        self, interaction: Interaction, request: SecretRequest, key: str
    ) -> None:
        """The key form opened from the panel: the outcome shows on the panel, in place."""
        async with self.boundary(interaction) as serving:
            if serving:
                inv = self._invocation(
                    interaction, "byok", f"add {request.provider_id}", private=True
                )

                async def stored() -> PanelMessage:
                    reply = await self.dispatcher.submit_key(inv, request, key)
                    return await self._panel(interaction, request.provider_id, notice=reply)

                await self._update_panel(interaction, stored())

    # -- summaries ------------------------------------------------------------------------

    async def summarize(
        self,
        interaction: Interaction,
        transcript: discord.Attachment | None,
        flags: Mapping[str, object],
        *,
        private: bool,
    ) -> None:
        """From an attached file, or a modal to paste the transcript into."""
        async with self.boundary(interaction) as serving:
            if not serving:
                return
            if transcript is None:
                token = secrets.token_hex(8)
                self._pastes[token] = _Paste(interaction.user.id, dict(flags), private)
                while len(self._pastes) > _OPEN_PASTES:
                    self._pastes.popitem(last=False)
                await interaction.response.send_modal(TranscriptModal(token))
                return
            await interaction.response.defer(ephemeral=private, thinking=True)
            limit = self.max_attachment_bytes
            too_large = (
                f"`{transcript.filename}` is {transcript.size:,} bytes; I read transcripts "
                f"up to {limit:,}. Split it and summarise each part."
            )
            try:
                if transcript.size > limit:  # as Discord announces it: not even downloaded
                    raise TooLargeError
                data = await download_capped(transcript.url, limit)
            except TooLargeError:
                if transcript.size <= limit:  # larger than announced: stopped at the limit
                    too_large = too_large_message(transcript.filename, limit)
                surface = InteractionSurface(interaction, ephemeral=private)
                refusal = Reply(tone="error", text=too_large)
                await AnswerStream(surface, self._pacing).show_reply(refusal)
                return
            except DownloadFailedError as exc:
                log.warning("downloading an attachment failed: HTTP %s", exc.status)
                await interaction.edit_original_response(
                    content=f"I couldn't download `{transcript.filename}` from Discord; please "
                    "try again."
                )
                return
            attachment = Attachment(transcript.filename, data, transcript.content_type)
            inv = self._invocation(
                interaction,
                "summarize",
                command_text(flags=flags),
                private=private,
                attachments=(attachment,),
            )
            await self._answer(interaction, inv, ephemeral=private, deferred=True)

    async def submit_transcript(
        self, interaction: Interaction, text: str, flags: Mapping[str, object], *, private: bool
    ) -> None:
        async with self.boundary(interaction) as serving:
            if serving:
                inv = self._invocation(
                    interaction, "summarize", command_text(flags=flags, free=text), private=private
                )
                await self._answer(interaction, inv, ephemeral=private)

    # -- autocomplete ---------------------------------------------------------------------

    async def suggest_models(
        self, interaction: Interaction, current: str, *, extra: Sequence[str] = ()
    ) -> None:
        """Answer an autocomplete with the user's models; the last comma-separated word."""
        async with self.boundary(interaction) as serving:
            if not serving:
                return
            done, _, typing = current.rpartition(",")
            head = f"{done}," if done else ""
            provider = getattr(interaction.namespace, "provider", None)
            user = self._invocation(interaction, "ask", "", private=True).user_ref
            try:
                async with asyncio.timeout(_FIRST_RESPONSE_BUDGET):
                    names = await self._models.suggest(user, provider, typing)
            except TimeoutError:
                names = []
            matching = [e for e in extra if typing.strip().lower() in e]
            values = [head + n for n in [*matching, *names] if len(head + n) <= 100]
            await interaction.response.autocomplete(
                [app_commands.Choice(name=v, value=v) for v in values[:25]]
            )
