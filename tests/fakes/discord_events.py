"""Gateway event payloads as Discord sends them, registered with a :class:`FakeDiscord`.

Each builder returns the ``d`` of a gateway event (``INTERACTION_CREATE``,
``MESSAGE_CREATE``, ``GUILD_CREATE``) and tells the fake about it, so the bot's
answers (callbacks, fetches of the message) find what Discord would have::

    events = DiscordEvents(fake)
    payload = events.command("byok", [events.sub("list")])
    client._connection.parse_interaction_create(payload)      # or fake.dispatch(...)

Events of another guild, e.g. one on shard 1 of 2 (the fake routes by guild)::

    other = DiscordEvents(fake, guild_id=fake.guild_for_shard(1, 2))
    fake.add_guild(other.guild())
    await fake.dispatch("MESSAGE_CREATE", other.message("hi", mention=True))
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.fakes.fake_discord import APP_ID, FakeDiscord, InteractionState, shallow

__all__ = ["ALICE", "BOB", "CHANNEL_ID", "GUILD_ID", "DiscordEvents"]

GUILD_ID = "1300000000000000001"
CHANNEL_ID = "1300000000000000002"
ALICE: dict[str, Any] = {
    "id": "1400000000000000001",
    "username": "alice",
    "discriminator": "0",
    "global_name": "Alice",
    "avatar": None,
}
BOB: dict[str, Any] = {
    "id": "1400000000000000002",
    "username": "bob",
    "discriminator": "0",
    "global_name": "Bob",
    "avatar": None,
}
_ALL_PERMISSIONS = "2251799813685247"


def _member(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": user,
        "roles": [],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "permissions": _ALL_PERMISSIONS,
        "flags": 0,
    }


class DiscordEvents:
    """Builds what Discord sends when users act, against one fake."""

    def __init__(
        self, fake: FakeDiscord, *, guild_id: str = GUILD_ID, channel_id: str | None = None
    ) -> None:
        """Events of one guild and its text channel: the test guild unless ``guild_id``
        names another (``fake.guild_for_shard(...)``), which gets a channel of its own."""
        self.fake = fake
        self.guild_id = str(guild_id)
        if channel_id is None:
            channel_id = CHANNEL_ID if self.guild_id == GUILD_ID else fake.snowflake()
        self.channel_id = str(channel_id)

    # -- the guild ----------------------------------------------------------------------

    def guild(self) -> dict[str, Any]:
        """``GUILD_CREATE`` for the guild with its one text channel."""
        return {
            "id": self.guild_id,
            "name": "Test guild",
            "icon": None,
            "owner_id": ALICE["id"],
            "roles": [
                {
                    "id": self.guild_id,
                    "name": "@everyone",
                    "permissions": _ALL_PERMISSIONS,
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "member_count": 2,
            "channels": [self._channel()],
            "threads": [],
            "members": [],
            "voice_states": [],
            "presences": [],
            "unavailable": False,
            "large": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
        }

    def _channel(self) -> dict[str, Any]:
        return {
            "id": self.channel_id,
            "type": 0,
            "guild_id": self.guild_id,
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        }

    def dm_channel_id(self, user: dict[str, Any]) -> str:
        return self.fake.dm_channels.setdefault(user["id"], self.fake.snowflake())

    # -- interactions --------------------------------------------------------------------

    def _interaction(
        self, kind: int, data: dict[str, Any], user: dict[str, Any], dm: bool
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": self.fake.snowflake(),
            "application_id": APP_ID,
            "type": kind,
            "token": "itok-" + secrets.token_hex(12),
            "version": 1,
            "app_permissions": _ALL_PERMISSIONS,
            "attachment_size_limit": 10_485_760,
            "locale": "en-US",
            "entitlements": [],
            "data": data,
        }
        if dm:
            channel = {"id": self.dm_channel_id(user), "type": 1, "recipients": [user]}
            payload.update(
                channel_id=channel["id"],
                channel=channel,
                user=user,
                context=1,
                authorizing_integration_owners={"0": "0"},
            )
        else:
            payload.update(
                guild_id=self.guild_id,
                channel_id=self.channel_id,
                channel=self._channel(),
                member=_member(user),
                guild_locale="en-US",
                context=0,
                authorizing_integration_owners={"0": self.guild_id},
            )
        self.fake.interactions[payload["token"]] = InteractionState(payload)
        return payload

    @staticmethod
    def sub(name: str, **values: Any) -> dict[str, Any]:
        """A subcommand option (``/byok list``) with its own options."""
        return {"name": name, "type": 1, "options": DiscordEvents.options(**values)}

    @staticmethod
    def options(**values: Any) -> list[dict[str, Any]]:
        """Options by name; ints are INTEGER, floats NUMBER, everything else STRING."""
        out = []
        for name, value in values.items():
            if value is None:
                continue
            kind = 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3
            out.append({"name": name, "type": kind, "value": value})
        return out

    def command(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        user: dict[str, Any] = ALICE,
        dm: bool = False,
        attachment: dict[str, Any] | None = None,
        attachment_option: str = "transcript",
    ) -> dict[str, Any]:
        """A slash command (type 2); ``attachment`` fills the ATTACHMENT option
        ``attachment_option`` (``transcript`` for /summarize, ``image`` for /ask)."""
        data: dict[str, Any] = {
            "id": self.fake.snowflake(),
            "name": name,
            "type": 1,
            "options": list(options or []),
        }
        if attachment is not None:
            option = {"name": attachment_option, "type": 11, "value": attachment["id"]}
            data["options"].append(option)
            data["resolved"] = {"attachments": {attachment["id"]: attachment}}
        return self._interaction(2, data, user, dm)

    def autocomplete(
        self,
        name: str,
        options: list[dict[str, Any]],
        focused: str,
        *,
        user: dict[str, Any] = ALICE,
        dm: bool = False,
    ) -> dict[str, Any]:
        """Type 4: the user is typing into option ``focused``."""

        def mark(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            marked = []
            for original in items:
                item = dict(original)
                if item.get("type") in (1, 2):
                    item["options"] = mark(item.get("options", []))
                elif item["name"] == focused:
                    item["focused"] = True
                marked.append(item)
            return marked

        data = {"id": self.fake.snowflake(), "name": name, "type": 1, "options": mark(options)}
        return self._interaction(4, data, user, dm)

    def modal_submit(
        self,
        modal: dict[str, Any],
        values: dict[str, str],
        *,
        user: dict[str, Any] = ALICE,
        dm: bool = False,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Type 5: ``modal`` is the ``data`` of the type 9 callback; values by label text.

        ``message``: the message whose component opened the modal (Discord sends it along).
        """
        components = []
        for index, row in enumerate(modal["components"]):
            inner = row["component"] if row["type"] == 18 else row["components"][0]
            label = row.get("label") or inner.get("label")
            components.append(
                {
                    "type": 18,
                    "id": index + 1,
                    "component": {
                        "type": 4,
                        "id": 100 + index,
                        "custom_id": inner["custom_id"],
                        "value": values.get(label, ""),
                    },
                }
            )
        data = {"custom_id": modal["custom_id"], "components": components}
        payload = self._interaction(5, data, user, dm)
        if message is not None:
            payload["message"] = shallow(message)
            self.fake.interactions[payload["token"]].original = message["id"]
        return payload

    def component(
        self,
        message: dict[str, Any],
        custom_id: str,
        *,
        values: list[str] | None = None,
        user: dict[str, Any] = ALICE,
        dm: bool = False,
    ) -> dict[str, Any]:
        """Type 3: a click on a button of ``message``, or a choice in one of its selects.

        The component is looked up in the message by ``custom_id`` (a button, or a string
        select when ``values`` are given), as Discord sends only what the message shows;
        its ``@original`` is that message.
        """
        found = [
            c
            for row in message.get("components") or []
            for c in row.get("components") or []
            if c.get("custom_id") == custom_id
        ]
        component_type = found[0]["type"] if found else (3 if values is not None else 2)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        payload = self._interaction(3, data, user, dm)
        payload["message"] = shallow(message)
        self.fake.interactions[payload["token"]].original = message["id"]
        return payload

    # -- messages ------------------------------------------------------------------------

    def message(
        self,
        content: str,
        *,
        user: dict[str, Any] = ALICE,
        dm: bool = False,
        mention: bool = False,
        reply_to: dict[str, Any] | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``MESSAGE_CREATE`` from a user; the fake stores it so the bot can fetch it."""
        bot = self.fake.bot_user
        channel_id = self.dm_channel_id(user) if dm else self.channel_id
        mentions = [bot] if mention else []
        if mention:
            content = f"<@{bot['id']}> {content}"
        payload: dict[str, Any] = {
            "id": self.fake.snowflake(),
            "channel_id": channel_id,
            "author": user,
            "content": content,
            "timestamp": "2026-11-18T12:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        if not dm:
            payload.update(
                guild_id=self.guild_id,
                member={k: v for k, v in _member(user).items() if k != "user"},
            )
        if reply_to is not None:
            payload["type"] = 19
            payload["message_reference"] = {
                "message_id": reply_to["id"],
                "channel_id": channel_id,
                "type": 0,
                **({} if dm else {"guild_id": self.guild_id}),
            }
            payload["referenced_message"] = shallow(reply_to)
            if reply_to["author"]["id"] == bot["id"] and mention:
                payload["content"] = content.split("> ", 1)[1]  # a reply pings, no <@> text
        self.fake.messages[payload["id"]] = payload
        return payload
