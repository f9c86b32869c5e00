"""Who and where, in the bot's terms: Discord users, channels and conversations.

A Discord user id is unique across the whole platform, so every Discord user has one
identity (workspace :data:`WORKSPACE`): their keys, preferences and usage follow them
into every server and their DMs. A conversation (the ``thread`` of an Invocation) is
a reply chain in a channel, named by its root — the first user message or the slash
command that started it — or, in a DM, the DM itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.invocation import Attachment, Invocation

__all__ = ["PLATFORM", "WORKSPACE", "chain_thread", "dm_thread", "invocation"]

PLATFORM = "discord"
WORKSPACE = "global"


def chain_thread(channel_id: int, root_id: int) -> str:
    """The conversation of a reply chain whose first message (or command) is ``root_id``."""
    return f"{channel_id}/{root_id}"


def dm_thread(channel_id: int) -> str:
    """A DM with the bot is one running conversation."""
    return f"dm/{channel_id}"


def invocation(
    user: discord.User | discord.Member,
    channel_id: int | None,
    command: str,
    text: str = "",
    *,
    private: bool,
    attachments: Sequence[Attachment] = (),
    thread: str | None = None,
) -> Invocation:
    return Invocation(
        platform=PLATFORM,
        workspace=WORKSPACE,
        user=str(user.id),
        channel=str(channel_id or ""),
        private=private,
        command=command,
        text=text,
        attachments=tuple(attachments),
        thread=thread,
        user_name=user.display_name,
    )
