"""Where an answer appears: an interaction's responses, or replies in a channel or DM.

:class:`InteractionSurface` edits the deferred ``@original`` response, then adds
followups (ephemeral when the command was). :class:`ChannelSurface` replies to the
user's message and continues in further replies. Both can turn private: what was
posted publicly is withdrawn and the reply goes to the asker alone — an ephemeral
followup, or a DM.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import discord

from adapters.discord.render import Outgoing
from adapters.discord.streaming import MessageHandle

__all__ = ["ChannelSurface", "Interaction", "InteractionSurface"]

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]


class _Original:
    """The interaction's first response (after a deferral, the "thinking…" message)."""

    def __init__(self, interaction: Interaction) -> None:
        self._interaction = interaction

    async def edit(self, out: Outgoing) -> None:
        await self._interaction.edit_original_response(**out.edit_kwargs())

    async def delete(self) -> None:
        await self._interaction.delete_original_response()


class _Sent:
    """A followup, a channel message or a DM."""

    def __init__(self, message: discord.Message | discord.WebhookMessage) -> None:
        self.message = message

    async def edit(self, out: Outgoing) -> None:
        await self.message.edit(**out.edit_kwargs())

    async def delete(self) -> None:
        await self.message.delete()


async def _delete_all(handles: Sequence[MessageHandle]) -> None:
    for handle in handles:
        try:
            await handle.delete()
        except discord.NotFound:
            pass
        except discord.HTTPException as exc:
            log.warning("could not withdraw a message: HTTP %s (code %s)", exc.status, exc.code)


async def _send_anew(
    channel: discord.abc.Messageable | None,
    user: discord.User | discord.Member,
    outs: Sequence[Outgoing],
    sent: list[discord.Message] | None = None,
    **extra: Any,
) -> str:
    """``outs`` as new bot messages in ``channel`` (collected in ``sent``), else by DM."""
    if channel is not None:
        try:
            for out in outs:
                message = await channel.send(**out.send_kwargs(), **extra)
                if sent is not None:
                    sent.append(message)
        except discord.HTTPException as exc:
            log.warning(
                "sending an answer anew in the channel failed: HTTP %s (code %s); trying a DM",
                exc.status,
                exc.code,
            )
        else:
            return "in the channel"
    dm = await user.create_dm()
    for out in outs:
        await dm.send(**out.send_kwargs())
    return "by DM"


class InteractionSurface:
    """The responses of one deferred interaction."""

    def __init__(self, interaction: Interaction, *, ephemeral: bool) -> None:
        self._interaction = interaction
        self._ephemeral = ephemeral
        self._original_used = False
        self._followups: list[MessageHandle] = []

    @property
    def public(self) -> bool:
        return not self._ephemeral and self._interaction.guild_id is not None

    async def post(self, out: Outgoing) -> MessageHandle:
        if not self._original_used:
            handle: MessageHandle = _Original(self._interaction)
            await handle.edit(out)
            self._original_used = True
            return handle
        sent = await self._interaction.followup.send(
            **out.send_kwargs(), ephemeral=self._ephemeral, wait=True
        )
        handle = _Sent(sent)
        self._followups.append(handle)
        return handle

    async def go_private(self, outs: Sequence[Outgoing]) -> None:
        original = _Original(self._interaction)
        if not self._original_used:
            # A followup sent while the response still "thinks" would replace it and
            # stay public; ending the thinking state first makes followups independent.
            self._original_used = True
            await original.edit(Outgoing("-# Answered privately."))
        await _delete_all(self._followups)
        self._followups.clear()
        for out in outs:
            await self._interaction.followup.send(**out.send_kwargs(), ephemeral=True)
        await _delete_all([original])

    async def rescue(self, outs: Sequence[Outgoing]) -> str:
        # Not through the interaction: its token may be what expired. Never in the
        # channel when the answer was ephemeral.
        channel_id = self._interaction.channel_id
        channel = (
            self._interaction.client.get_partial_messageable(channel_id)
            if self.public and channel_id is not None
            else None
        )
        return await _send_anew(channel, self._interaction.user, outs)


class ChannelSurface:
    """Replies to a user's message, in a server channel or a DM."""

    def __init__(self, message: discord.Message) -> None:
        self._message = message
        self._posted: list[_Sent] = []

    @property
    def posted_ids(self) -> list[int]:
        """The bot's messages now standing in the channel for this answer."""
        return [handle.message.id for handle in self._posted]

    @property
    def public(self) -> bool:
        return self._message.guild is not None

    async def post(self, out: Outgoing) -> MessageHandle:
        kwargs: dict[str, Any] = out.send_kwargs()
        # Still answer, without the reply link, if the question was deleted meanwhile.
        reference = self._message.to_reference(fail_if_not_exists=False)
        sent = await self._message.channel.send(**kwargs, reference=reference)
        handle = _Sent(sent)
        self._posted.append(handle)
        return handle

    async def rescue(self, outs: Sequence[Outgoing]) -> str:
        reference = self._message.to_reference(fail_if_not_exists=False)
        sent: list[discord.Message] = []
        where = await _send_anew(
            self._message.channel, self._message.author, outs, sent, reference=reference
        )
        self._posted.extend(_Sent(message) for message in sent)
        return where

    async def go_private(self, outs: Sequence[Outgoing]) -> None:
        await _delete_all(self._posted)
        self._posted.clear()
        try:
            channel = await self._message.author.create_dm()
            for out in outs:
                await channel.send(**out.send_kwargs())
        except discord.Forbidden:
            log.info(
                "user %s does not accept DMs; told them in the channel", self._message.author.id
            )
            with contextlib.suppress(discord.HTTPException):
                await self._message.channel.send(
                    f"<@{self._message.author.id}> I have an answer only you should see, but "
                    "I can't DM you. Allow DMs from this server's members, or use `/ask` "
                    "with `private: True`.",
                    allowed_mentions=discord.AllowedMentions(users=[self._message.author]),
                )
