"""Modals: the private form for an API key, and one to paste a meeting transcript into.

The key modal is the only way a key reaches the bot from a server: what is typed into
it is seen by Discord and the bot alone, is validated through
``Dispatcher.submit_key`` and is never echoed back (the answer names only the last four
characters). Each modal answers only the user it was opened for, and is forgotten after
ten minutes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import ui

from adapters.discord.surfaces import Interaction
from bot.invocation import Invocation
from bot.reply import SecretRequest

if TYPE_CHECKING:
    from adapters.discord.interactions import InteractionFlows

__all__ = ["KeyModal", "TranscriptModal"]

log = logging.getLogger(__name__)

_TIMEOUT = 600.0
_TITLE_LIMIT = 45
_PASTE_PARTS = 3
_PASTE_LIMIT = 4000  # Discord's maximum for one text input


class _OwnedModal(ui.Modal):
    """A modal only the user who opened it may submit; failures are logged, not echoed."""

    def __init__(self, *, title: str, owner: int) -> None:
        super().__init__(title=title[:_TITLE_LIMIT], timeout=_TIMEOUT)
        self._owner = owner

    async def interaction_check(self, interaction: Interaction, /) -> bool:
        if interaction.user.id == self._owner:
            return True
        await interaction.response.send_message("This form isn't yours.", ephemeral=True)
        return False

    async def on_error(  # type: ignore[override]  # Modal drops BaseView's item argument
        self, interaction: Interaction, error: Exception, /
    ) -> None:
        incident = secrets.token_hex(4)
        log.error("%s failed (incident %s)", type(self).__name__, incident, exc_info=error)
        if not interaction.response.is_done():
            try:
                await interaction.response.send_message(
                    f"Something went wrong on our side (ref {incident}).", ephemeral=True
                )
            except discord.HTTPException:
                log.info("could not report incident %s to the user", incident)


class KeyModal(_OwnedModal):
    """``/byok add``: the key, an optional label and an optional monthly limit."""

    def __init__(
        self, flows: InteractionFlows, inv: Invocation, request: SecretRequest, *, owner: int
    ) -> None:
        super().__init__(title=f"Add your {request.provider_id} API key", owner=owner)
        self._flows = flows
        self._inv = inv
        self._request = request
        self.key: ui.TextInput[KeyModal] = ui.TextInput(
            style=discord.TextStyle.short,
            min_length=8,
            max_length=512,
            required=True,
            placeholder="Only the bot sees it; it is stored encrypted",
        )
        self.label: ui.TextInput[KeyModal] = ui.TextInput(
            required=False, max_length=64, default=request.label, placeholder="e.g. work"
        )
        self.limit: ui.TextInput[KeyModal] = ui.TextInput(
            required=False,
            max_length=16,
            default=request.monthly_limit,
            placeholder="US dollars a month, e.g. 20",
        )
        self.add_item(
            ui.Label(
                text="API key",
                component=self.key,
                description="Shown again only as its last four characters.",
            )
        )
        self.add_item(ui.Label(text="Label (optional)", component=self.label))
        self.add_item(ui.Label(text="Monthly limit (optional)", component=self.limit))

    async def on_submit(self, interaction: Interaction, /) -> None:
        request = replace(
            self._request,
            label=self.label.value.strip() or self._request.label,
            monthly_limit=self.limit.value.strip() or self._request.monthly_limit,
        )
        await self._flows.submit_key(interaction, self._inv, request, self.key.value)


class TranscriptModal(_OwnedModal):
    """``/summarize`` without a file: paste the transcript (up to three boxes)."""

    def __init__(
        self, flows: InteractionFlows, flags: Mapping[str, object], *, private: bool, owner: int
    ) -> None:
        super().__init__(title="Summarize a meeting", owner=owner)
        self._flows = flows
        self._flags = flags
        self._private = private
        self.parts: list[ui.TextInput[TranscriptModal]] = [
            ui.TextInput(
                style=discord.TextStyle.paragraph,
                max_length=_PASTE_LIMIT,
                required=index == 0,
                placeholder="Alice: Let's ship Friday.\nBob: I'll update the docs.",
            )
            for index in range(_PASTE_PARTS)
        ]
        for index, part in enumerate(self.parts):
            self.add_item(
                ui.Label(
                    text="Transcript" if index == 0 else f"Transcript, continued ({index + 1})",
                    component=part,
                    description="Longer? Attach a .txt, .vtt or .srt file instead."
                    if index == 0
                    else None,
                )
            )

    async def on_submit(self, interaction: Interaction, /) -> None:
        text = "\n".join(part.value for part in self.parts if part.value.strip())
        await self._flows.submit_transcript(interaction, text, self._flags, private=self._private)
