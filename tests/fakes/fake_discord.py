"""A loopback Discord: the REST API (v10), a CDN for attachments and a gateway WebSocket.

discord.py runs unmodified against it: point ``discord.http.Route.BASE`` at
:attr:`FakeDiscord.api_base` and ``DiscordWebSocket.DEFAULT_GATEWAY`` at
:attr:`FakeDiscord.gateway_url`. Every call is recorded (``requests``) and the fake keeps
Discord's state — messages, interactions and their responses, DM channels — so a test
can read what a user would see. JSON answers carry exactly ``Content-Type:
application/json`` (discord.py treats anything else as text).

It behaves like Discord where it matters to a bot: an interaction can be acknowledged
once (``40060`` otherwise) and only if Discord created it (``10062 Unknown interaction``
otherwise); callbacks with ``with_response=1`` answer an InteractionCallbackResponse; a
component interaction (type 3) acts on the message its button or select sits on — its
``@original`` — which an UPDATE_MESSAGE callback (type 7) edits in place and a
DEFERRED_UPDATE_MESSAGE (type 6) leaves for a later edit;
bot routes need ``Authorization: Bot <token>``; a message (sent, edited, or in a
callback) over one of Discord's length limits is refused as Discord refuses it (400
Invalid Form Body, 50035, ``BASE_TYPE_MAX_LENGTH`` or ``MAX_EMBED_SIZE_EXCEEDED``), and
so are components over Discord's limits (action rows, buttons per row, select options,
``custom_id`` length), and
every over-limit body is kept in :attr:`FakeDiscord.refused`. Faults: :meth:`rate_limit` (429 with
``retry_after`` JSON), :meth:`forbid` (403 Missing Permissions, 50013),
an IDENTIFY sooner than :attr:`FakeDiscord.identify_interval_s` after the last of its
rate-limit bucket (Invalid Session, kept in :attr:`FakeDiscord.too_soon`),
:meth:`expire_interactions` (404 Unknown Interaction, 10062), and every
:class:`~tests.fakes.loopback.Fault`. Payloads for events come from
:mod:`tests.fakes.discord_events`.

The gateway shards as Discord does, so several bot instances can run against one fake.
``GET /gateway/bot`` recommends :attr:`FakeDiscord.recommended_shards`; an IDENTIFY names
its ``shard: [id, count]`` (none: ``[0, 1]``) and is closed with 4010 Invalid shard for
an id outside the count, or 4011 Sharding required below
:attr:`FakeDiscord.require_shards`. :meth:`FakeDiscord.dispatch` sends a guild's event to
every connected session of shard ``(guild_id >> 22) % count`` and a DM to shard 0, so
two sessions of one shard both get it — :meth:`FakeDiscord.overlaps` names the shards
where that ever happened and :attr:`FakeDiscord.sessions` keeps every session with its
shard and connected times. :meth:`FakeDiscord.guild_for_shard` makes a guild id that
lands on a given shard; :meth:`FakeDiscord.drop_shard` closes a shard's sessions.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.loopback import RECORDED, Fault, LoopbackServer, RecordedRequest

__all__ = [
    "BOT_USER",
    "FakeDiscord",
    "GatewaySession",
    "InteractionState",
    "parse_body",
    "shallow",
    "shard_of",
]

API = "/api/v10"
APP_ID = "1100000000000000001"
BOT_USER: dict[str, Any] = {
    "id": "1100000000000000002",
    "username": "byok",
    "discriminator": "0",
    "global_name": "byok-bot",
    "avatar": None,
    "bot": True,
}
_ERRORS = {
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (10008, "Unknown Message"),
    429: (0, "You are being rate limited."),
}
#: Discord's message limits (characters): https://discord.com/developers/docs/resources/message
CONTENT_LIMIT = 2000
EMBED_LIMITS = {"title": 256, "description": 4096}
FIELD_LIMITS = {"name": 256, "value": 1024}
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
FIELDS_PER_EMBED = 25
#: Component limits: https://discord.com/developers/docs/components/reference
ACTION_ROWS = 5
BUTTONS_PER_ROW = 5
SELECT_OPTIONS = 25
CUSTOM_ID_LIMIT = 100
BUTTON_LABEL_LIMIT = 80
OPTION_TEXT_LIMIT = 100  # an option's label, value and description
_SELECTS = (3, 5, 6, 7, 8)  # string, user, role, mentionable and channel selects
#: ``session_start_limit.total`` of ``GET /gateway/bot`` (Discord's daily identify quota).
SESSION_STARTS_PER_DAY = 1000


def _max_length(limit: int) -> dict[str, Any]:
    return {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }


def _embed_errors(embed: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for key, limit in EMBED_LIMITS.items():
        if len(embed.get(key) or "") > limit:
            errors[key] = _max_length(limit)
    footer = (embed.get("footer") or {}).get("text") or ""
    if len(footer) > FOOTER_LIMIT:
        errors["footer"] = {"text": _max_length(FOOTER_LIMIT)}
    fields = embed.get("fields") or []
    if len(fields) > FIELDS_PER_EMBED:
        errors["fields"] = _max_length(FIELDS_PER_EMBED)
    for index, item in enumerate(fields):
        wrong = {k: _max_length(n) for k, n in FIELD_LIMITS.items() if len(item.get(k) or "") > n}
        if wrong:
            errors.setdefault("fields", {})[str(index)] = wrong
    return errors


def _embed_size(embed: dict[str, Any]) -> int:
    size = sum(len(embed.get(k) or "") for k in EMBED_LIMITS)
    size += len((embed.get("footer") or {}).get("text") or "")
    size += len((embed.get("author") or {}).get("name") or "")
    return size + sum(
        len(f.get("name") or "") + len(f.get("value") or "") for f in embed.get("fields") or []
    )


def _component_errors(component: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    if len(component.get("custom_id") or "") > CUSTOM_ID_LIMIT:
        errors["custom_id"] = _max_length(CUSTOM_ID_LIMIT)
    if component.get("type") == 2 and len(component.get("label") or "") > BUTTON_LABEL_LIMIT:
        errors["label"] = _max_length(BUTTON_LABEL_LIMIT)
    options = component.get("options") or []
    if len(options) > SELECT_OPTIONS:
        errors["options"] = _max_length(SELECT_OPTIONS)
    for index, option in enumerate(options):
        wrong = {
            k: _max_length(OPTION_TEXT_LIMIT)
            for k in ("label", "value", "description")
            if len(option.get(k) or "") > OPTION_TEXT_LIMIT
        }
        if wrong:
            errors.setdefault("options", {})[str(index)] = wrong
    return errors


def _row_errors(row: dict[str, Any]) -> dict[str, Any]:
    """An action row holds up to five buttons, or one select alone."""
    inner = row.get("components") or []
    errors: dict[str, Any] = {}
    selects = sum(1 for c in inner if c.get("type") in _SELECTS)
    if len(inner) > BUTTONS_PER_ROW or (selects and len(inner) > 1):
        errors["components"] = {
            "_errors": [
                {"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 5 in length."}
            ]
        }
    for index, component in enumerate(inner):
        wrong = _component_errors(component)
        if wrong:
            errors.setdefault("components", {})[str(index)] = wrong
    return errors


def components_errors(components: list[dict[str, Any]]) -> dict[str, Any]:
    """What Discord's 400 would list for a message's (legacy) components; empty when they fit."""
    errors: dict[str, Any] = {}
    if len(components) > ACTION_ROWS:
        errors["_errors"] = [
            {
                "code": "BASE_TYPE_MAX_LENGTH",
                "message": f"Must be {ACTION_ROWS} or fewer in length.",
            }
        ]
    for index, row in enumerate(components):
        wrong = _row_errors(row)
        if wrong:
            errors[str(index)] = wrong
    return errors


def form_errors(body: dict[str, Any]) -> dict[str, Any]:
    """What Discord's 400 Invalid Form Body would list for ``body``; empty when it fits."""
    errors: dict[str, Any] = {}
    if len(body.get("content") or "") > CONTENT_LIMIT:
        errors["content"] = _max_length(CONTENT_LIMIT)
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_PER_MESSAGE:
        errors["embeds"] = _max_length(EMBEDS_PER_MESSAGE)
    for index, embed in enumerate(embeds):
        wrong = _embed_errors(embed)
        if wrong:
            errors.setdefault("embeds", {})[str(index)] = wrong
    if sum(_embed_size(e) for e in embeds) > EMBED_TOTAL_LIMIT:
        errors.setdefault("embeds", {})["_errors"] = [
            {
                "code": "MAX_EMBED_SIZE_EXCEEDED",
                "message": f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}",
            }
        ]
    wrong = components_errors(body.get("components") or [])
    if wrong:
        errors["components"] = wrong
    return errors


@dataclass
class InteractionState:
    """One interaction Discord created, and how the bot answered it."""

    payload: dict[str, Any]
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: str | None = None  # message id of the @original response
    followups: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.payload["id"])

    @property
    def channel_id(self) -> str:
        return str(self.payload["channel"]["id"])


class FakeDiscord(LoopbackServer):
    """The Discord API on 127.0.0.1, with state and recording."""

    application_id = APP_ID
    bot_user = BOT_USER

    def __init__(
        self,
        token: str = "fake-bot-token",
        *,
        recommended_shards: int = 1,
        require_shards: int = 1,
    ) -> None:
        super().__init__()
        self.token = token
        #: The ``shards`` of ``GET /gateway/bot``.
        self.recommended_shards = recommended_shards
        #: An IDENTIFY with fewer shards than this is closed with 4011 Sharding required.
        self.require_shards = require_shards
        #: ``session_start_limit.max_concurrency``: identify rate-limit buckets.
        self.max_concurrency = 1
        #: When > 0, an IDENTIFY sooner than this after the last one of its bucket
        #: (``shard % max_concurrency``) gets Invalid Session, as Discord's 5 s limit does.
        self.identify_interval_s = 0.0
        self.too_soon: list[int] = []  # shards whose IDENTIFY came too soon
        self._last_identify: dict[int, float] = {}  # bucket -> monotonic time
        self._ids = itertools.count(1_200_000_000_000_000_001)
        self.messages: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.interactions: dict[str, InteractionState] = {}  # by token
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id
        self.dm_channels: dict[str, str] = {}  # user id -> channel id
        self.files: dict[str, tuple[str, bytes]] = {}
        self.identify: list[dict[str, Any]] = []
        self.sessions: list[GatewaySession] = []  # one per accepted IDENTIFY
        self.shard_refusals: list[tuple[int, int, int]] = []  # (shard, count, close code)
        self.guilds: dict[str, dict[str, Any]] = {}  # GUILD_CREATE payloads, by id
        self._sockets: list[web.WebSocketResponse] = []
        self._started = time.monotonic()
        self.gateway_ready = asyncio.Event()
        self.gateway_open = True
        self.refused: list[dict[str, Any]] = []  # bodies refused as over Discord's limits

    # -- addresses -------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return self.url + API

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/gateway"

    def snowflake(self) -> str:
        return str(next(self._ids))

    # -- faults ------------------------------------------------------------------------

    def rate_limit(
        self, path: str, retry_after: float = 0.01, *, times: int = 1, cloudflare: bool = False
    ) -> None:
        """429s on ``path``; Discord's own carry ``Via``, a Cloudflare ban does not."""
        headers = {"Retry-After": str(max(1, round(retry_after)))}
        if not cloudflare:
            headers["Via"] = "1.1 google"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        self.inject(Fault.http(429, body, headers), path=path, times=times)

    def forbid(self, path: str, *, times: int = 1) -> None:
        """403 Missing Permissions (50013) on ``path``."""
        body = {"message": "Missing Permissions", "code": 50013}
        self.inject(Fault.http(403, body), path=path, times=times)

    def expire_interactions(self, *, times: int = 1) -> None:
        """404 Unknown interaction (10062) on the next interaction callbacks."""
        body = {"message": "Unknown interaction", "code": 10062}
        self.inject(Fault.http(404, body), path="/callback", times=times)

    def error_body(self, status: int, fault: Fault) -> object:
        code, message = _ERRORS.get(status, (0, fault.message or f"{status} error"))
        return {"message": message, "code": code}

    # -- what users see ---------------------------------------------------------------

    def visible(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages in the channel, oldest first, as they stand now."""
        return [
            m
            for mid, m in self.messages.items()
            if m["channel_id"] == str(channel_id) and mid not in self.deleted
        ]

    def from_bot(self, channel_id: str) -> list[dict[str, Any]]:
        """The bot's messages everyone can see in the channel (not ephemeral), oldest first."""
        return [
            m
            for m in self.visible(channel_id)
            if m["author"]["id"] == BOT_USER["id"] and not m["flags"] & 64
        ]

    def interaction(self, interaction_id: str) -> InteractionState:
        return next(s for s in self.interactions.values() if s.id == str(interaction_id))

    def responses(self, interaction_id: str) -> list[dict[str, Any]]:
        """The @original response then the followups of one interaction, not deleted."""
        state = self.interaction(interaction_id)
        ids = ([state.original] if state.original else []) + state.followups
        return [self.messages[i] for i in ids if i not in self.deleted]

    def host_file(
        self, filename: str, data: bytes, content_type: str = "text/plain"
    ) -> dict[str, Any]:
        """An attachment object whose URL this fake serves (the CDN)."""
        attachment_id = self.snowflake()
        self.files[attachment_id] = (filename, data)
        url = f"{self.url}/attachments/{attachment_id}/{filename}"
        return {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    # -- routes --------------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(f"{API}/users/@me", self._me)
        r.add_get(f"{API}/gateway/bot", self._gateway_bot)
        r.add_get(f"{API}/oauth2/applications/@me", self._application)
        r.add_put(f"{API}/applications/{{app}}/commands", self._put_commands)
        r.add_put(f"{API}/applications/{{app}}/guilds/{{guild}}/commands", self._put_commands)
        r.add_post(f"{API}/interactions/{{iid}}/{{token}}/callback", self._callback)
        r.add_post(f"{API}/webhooks/{{app}}/{{token}}", self._followup)
        r.add_route(
            "*", f"{API}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_message
        )
        r.add_post(f"{API}/channels/{{cid}}/messages", self._channel_post)
        r.add_route("*", f"{API}/channels/{{cid}}/messages/{{mid}}", self._channel_message)
        r.add_post(f"{API}/channels/{{cid}}/typing", self._typing)
        r.add_post(f"{API}/users/@me/channels", self._dm_channel)
        r.add_get("/attachments/{aid}/{name}", self._cdn)
        r.add_get("/gateway", self._gateway)

    def _authorized(self, recorded: RecordedRequest) -> bool:
        return recorded.headers.get("Authorization") == f"Bot {self.token}"

    async def _bot_route(self, request: web.Request) -> web.StreamResponse | None:
        if self._authorized(request[RECORDED]):
            return None
        return await self.respond_json(
            request, {"message": "401: Unauthorized", "code": 0}, status=401
        )

    async def _too_long(
        self, request: web.Request, body: dict[str, Any], *, under: str | None = None
    ) -> web.StreamResponse | None:
        """Discord's 400 for a message over its limits, or None when ``body`` fits.

        ``under`` names the key the message sits under in the request (a callback's
        ``data``), as Discord nests its errors.
        """
        errors = form_errors(body)
        if not errors:
            return None
        self.refused.append(body)
        if under is not None:
            errors = {under: errors}
        return await self.respond_json(
            request,
            {"message": "Invalid Form Body", "code": 50035, "errors": errors},
            status=400,
        )

    async def _me(self, request: web.Request) -> web.StreamResponse:
        return await self._bot_route(request) or await self.respond_json(request, self.bot_user)

    async def _gateway_bot(self, request: web.Request) -> web.StreamResponse:
        """Where to connect, how many shards Discord recommends, and the identify quota."""
        denied = await self._bot_route(request)
        if denied:
            return denied
        day_ms = 86_400_000
        elapsed_ms = int((time.monotonic() - self._started) * 1000)
        limit = {
            "total": SESSION_STARTS_PER_DAY,
            "remaining": max(0, SESSION_STARTS_PER_DAY - len(self.identify)),
            "reset_after": max(0, day_ms - elapsed_ms),
            "max_concurrency": self.max_concurrency,
        }
        return await self.respond_json(
            request,
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": limit,
            },
        )

    async def _application(self, request: web.Request) -> web.StreamResponse:
        denied = await self._bot_route(request)
        if denied:
            return denied
        return await self.respond_json(
            request,
            {
                "id": APP_ID,
                "name": "byok-bot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": {
                    "id": "1100000000000000009",
                    "username": "owner",
                    "discriminator": "0",
                    "avatar": None,
                },
                "flags": 0,
                "interactions_endpoint_url": None,
                "bot": self.bot_user,
            },
        )

    async def _put_commands(self, request: web.Request) -> web.StreamResponse:
        denied = await self._bot_route(request)
        if denied:
            return denied
        guild = request.match_info.get("guild")
        commands = []
        for command in request[RECORDED].json():
            commands.append(
                {
                    **command,
                    "id": self.snowflake(),
                    "application_id": APP_ID,
                    "version": self.snowflake(),
                    **({"guild_id": guild} if guild else {}),
                }
            )
        self.commands[guild or "global"] = commands
        return await self.respond_json(request, commands)

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        state = self.interactions.get(request.match_info["token"])
        if state is None or state.id != request.match_info["iid"]:
            return await self.respond_json(
                request, {"message": "Unknown interaction", "code": 10062}, status=404
            )
        if state.callbacks:
            return await self.respond_json(
                request,
                {"message": "Interaction has already been acknowledged.", "code": 40060},
                status=400,
            )
        body, files = parse_body(request[RECORDED])
        kind, data = body["type"], body.get("data") or {}
        refused = await self._too_long(request, data if kind in (4, 7) else {}, under="data")
        if refused is not None:
            return refused
        state.callbacks.append(body)
        ephemeral = bool(int(data.get("flags", 0)) & 64)
        answer: dict[str, Any] = {
            "interaction": {
                "id": state.id,
                "type": state.payload["type"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            }
        }
        if kind in (4, 5):
            loading = (
                {"content": "", "flags": int(data.get("flags", 0)) | 128} if kind == 5 else data
            )
            message = self._store(state.channel_id, loading, files, interaction=state)
            state.original = message["id"]
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": message}
        elif kind in (6, 7) and state.payload["type"] in (3, 5) and state.original:
            # A component's message (or that of the component that opened the modal).
            message = self.messages[state.original]
            if kind == 7:
                self._edit(message, {k: v for k, v in data.items() if k != "flags"}, files)
                answer["resource"] = {"type": kind, "message": message}
            answer["interaction"]["response_message_id"] = message["id"]
        if kind == 8 or request.query.get("with_response") != "1":
            return web.Response(status=204)
        return await self.respond_json(request, answer)

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        state = self.interactions.get(request.match_info["token"])
        if state is None or not state.callbacks:
            return await self.respond_json(
                request, {"message": "Unknown Webhook", "code": 10015}, status=404
            )
        body, files = parse_body(request[RECORDED])
        refused = await self._too_long(request, body)
        if refused is not None:
            return refused
        original = self.messages.get(state.original or "")
        if original is not None and original["flags"] & 128:
            # The first followup after a deferral replaces the "thinking" message and
            # keeps its visibility, whatever flags it asks for.
            self._edit(original, {k: v for k, v in body.items() if k != "flags"}, files)
            return await self.respond_json(request, original)
        message = self._store(state.channel_id, body, files, interaction=state)
        state.followups.append(message["id"])
        return await self.respond_json(request, message)

    async def _webhook_message(self, request: web.Request) -> web.StreamResponse:
        state = self.interactions.get(request.match_info["token"])
        mid = request.match_info["mid"]
        if state is not None and mid == "@original":
            mid = state.original or ""
        if state is None or mid not in self.messages or mid in self.deleted:
            return await self.respond_json(
                request, {"message": "Unknown Message", "code": 10008}, status=404
            )
        return await self._message_verb(request, mid)

    async def _channel_post(self, request: web.Request) -> web.StreamResponse:
        denied = await self._bot_route(request)
        if denied:
            return denied
        body, files = parse_body(request[RECORDED])
        refused = await self._too_long(request, body)
        if refused is not None:
            return refused
        return await self.respond_json(request, self._store(request.match_info["cid"], body, files))

    async def _channel_message(self, request: web.Request) -> web.StreamResponse:
        denied = await self._bot_route(request)
        if denied:
            return denied
        mid = request.match_info["mid"]
        if mid not in self.messages or mid in self.deleted:
            return await self.respond_json(
                request, {"message": "Unknown Message", "code": 10008}, status=404
            )
        return await self._message_verb(request, mid)

    async def _message_verb(self, request: web.Request, mid: str) -> web.StreamResponse:
        if request.method == "DELETE":
            self.deleted.add(mid)
            return web.Response(status=204)
        if request.method == "PATCH":
            body, files = parse_body(request[RECORDED])
            refused = await self._too_long(request, body)
            if refused is not None:
                return refused
            self._edit(self.messages[mid], body, files)
        return await self.respond_json(request, self.messages[mid])

    async def _typing(self, request: web.Request) -> web.StreamResponse:
        return await self._bot_route(request) or web.Response(status=204)

    async def _dm_channel(self, request: web.Request) -> web.StreamResponse:
        denied = await self._bot_route(request)
        if denied:
            return denied
        user_id = str(request[RECORDED].json()["recipient_id"])
        channel_id = self.dm_channels.setdefault(user_id, self.snowflake())
        user = {
            "id": user_id,
            "username": f"user{user_id[-4:]}",
            "discriminator": "0",
            "avatar": None,
        }
        return await self.respond_json(
            request, {"id": channel_id, "type": 1, "recipients": [user], "last_message_id": None}
        )

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        _, data = self.files[request.match_info["aid"]]
        return web.Response(body=data, headers={"Content-Type": "application/octet-stream"})

    # -- state -------------------------------------------------------------------------

    def _store(
        self,
        channel_id: str,
        body: dict[str, Any],
        files: list[tuple[str, bytes]],
        *,
        interaction: InteractionState | None = None,
    ) -> dict[str, Any]:
        mid = self.snowflake()
        message: dict[str, Any] = {
            "id": mid,
            "channel_id": str(channel_id),
            "author": self.bot_user,
            "content": "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0),
            "components": [],
        }
        if interaction is not None:
            user = interaction.payload.get("user") or interaction.payload["member"]["user"]
            message.update(
                webhook_id=APP_ID,
                application_id=APP_ID,
                type=20,
                interaction_metadata={
                    "id": interaction.id,
                    "type": interaction.payload["type"],
                    "user": user,
                    "authorizing_integration_owners": {},
                },
            )
        reference = body.get("message_reference")
        if reference:
            message["type"] = 19
            message["message_reference"] = {
                **reference,
                "channel_id": str(channel_id),
                "message_id": str(reference.get("message_id")),
            }
            parent = self.messages.get(str(reference.get("message_id")))
            message["referenced_message"] = shallow(parent)
        self.messages[mid] = message
        self._edit(message, body, files, created=True)
        return message

    def _edit(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[tuple[str, bytes]],
        *,
        created: bool = False,
    ) -> None:
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = body["embeds"] or []
        if "components" in body:
            message["components"] = body["components"] or []
        if "attachments" in body or files:
            kept = {str(a.get("id")) for a in body.get("attachments") or []}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in kept]
        for filename, data in files:
            message["attachments"].append(self.host_file(filename, data))
        if not created:
            message["edited_timestamp"] = datetime.now(UTC).isoformat()
            if "flags" in body and body["flags"] is not None:
                message["flags"] = int(body["flags"]) | (message["flags"] & 64)
            else:
                message["flags"] &= ~128  # an edit ends the "thinking" state

    # -- gateway -------------------------------------------------------------------------

    def add_guild(self, guild: dict[str, Any]) -> None:
        """A guild the bot is in: each session of its shard gets it after READY.

        READY lists it as unavailable and a ``GUILD_CREATE`` with ``guild`` follows, as
        Discord does; a test builds ``guild`` with :meth:`DiscordEvents.guild`.
        """
        self.guilds[str(guild["id"])] = guild

    def guild_for_shard(self, shard: int, count: int) -> str:
        """A new guild id (snowflake) whose events Discord routes to ``shard`` of ``count``."""
        if not 0 <= shard < count:
            raise ValueError(f"shard {shard} is not one of {count}")
        snowflake = int(self.snowflake())
        timestamp = snowflake >> 22
        timestamp += (shard - timestamp) % count
        return str(timestamp << 22 | snowflake & (1 << 22) - 1)

    def connected_shards(self) -> dict[int, int]:
        """Shard id -> how many sessions of that shard are connected now."""
        counts: dict[int, int] = {}
        for session in self.sessions:
            if session.connected:
                counts[session.shard] = counts.get(session.shard, 0) + 1
        return counts

    def overlaps(self) -> set[int]:
        """Shards that ever had two sessions connected at once (each got the shard's events).

        Sessions overlap when they share a shard id and count and their connected spans
        intersect; one session resumed after a drop does not overlap itself.
        """
        found: set[int] = set()
        for index, first in enumerate(self.sessions):
            for second in self.sessions[index + 1 :]:
                same = (first.shard, first.shard_count) == (second.shard, second.shard_count)
                if same and first.overlaps(second):
                    found.add(first.shard)
        return found

    async def drop_gateway(self) -> None:
        """Close every gateway connection and refuse new ones until :meth:`restore_gateway`."""
        self.gateway_open = False
        for socket in list(self._sockets):
            await socket.close()

    def restore_gateway(self) -> None:
        self.gateway_open = True

    async def drop_shard(self, shard: int, *, resumable: bool = True) -> int:
        """Close the connected sessions of ``shard``; returns how many were closed.

        Resumable: closed with 4000 (unknown error, reconnect), and a RESUME of the session
        succeeds. Otherwise closed with 4009 (session timed out) and the session is
        forgotten, so its RESUME gets an Invalid Session and the client identifies anew.
        """
        dropped = [s for s in self.sessions if s.connected and s.shard == shard]
        for session in dropped:
            session.resumable = resumable
            if resumable:
                await session.close(4000, "Unknown error")
            else:
                await session.close(4009, "Session timed out")
        return len(dropped)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if not self.gateway_open:
            return web.Response(status=503, text="gateway unavailable")
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45_000}}))
        session: GatewaySession | None = None
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if message["op"] == 1:  # heartbeat
                    await socket.send_str(json.dumps({"op": 11, "d": None}))
                elif message["op"] == 2:  # identify
                    self.identify.append(message["d"])
                    session = await self._identify(socket, message["d"])
                    if session is not None:
                        await self.identified(socket)
                        self.gateway_ready.set()
                elif message["op"] == 6:  # resume, after a drop
                    session = await self._resume(socket, message["d"]) or session
        finally:
            self._sockets.remove(socket)
            if session is not None and session.socket is socket:
                session.disconnect(socket.close_code)
        return socket

    async def _identify(
        self, socket: web.WebSocketResponse, identify: dict[str, Any]
    ) -> GatewaySession | None:
        """A new session for the shard asked for, or Discord's close when it refuses it."""
        shard, count = identify.get("shard") or (0, 1)
        refusal = None
        if count < 1 or not 0 <= shard < count:
            refusal = (4010, b"Invalid shard")
        elif count < self.require_shards:
            refusal = (4011, b"Sharding required")
        if refusal is not None:
            self.shard_refusals.append((shard, count, refusal[0]))
            await socket.close(code=refusal[0], message=refusal[1])
            return None
        if self._identified_too_soon(shard):
            self.too_soon.append(shard)
            await socket.send_str(json.dumps({"op": 9, "d": False}))
            return None
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            shard=shard,
            shard_count=count,
            sharded="shard" in identify,
            opened_at=time.monotonic(),
            socket=socket,
        )
        self.sessions.append(session)
        return session

    def _identified_too_soon(self, shard: int) -> bool:
        if self.identify_interval_s <= 0:
            return False
        bucket = shard % self.max_concurrency
        now = time.monotonic()
        last = self._last_identify.get(bucket)
        if last is not None and now - last < self.identify_interval_s:
            return True
        self._last_identify[bucket] = now
        return False

    async def _resume(
        self, socket: web.WebSocketResponse, resume: dict[str, Any]
    ) -> GatewaySession | None:
        """RESUMED for a session Discord still knows; Invalid Session (``d: false``) otherwise.

        Events dispatched while the session was away are not replayed.
        """
        session = next((s for s in self.sessions if s.session_id == resume.get("session_id")), None)
        if session is None or not session.resumable:
            await socket.send_str(json.dumps({"op": 9, "d": False}))
            return None
        if session.socket is not None:
            await session.close(4000, "Resumed elsewhere")
        session.reconnect(socket)
        await self.send_event(socket, "RESUMED", {})
        return session

    def _session_on(self, socket: web.WebSocketResponse) -> GatewaySession | None:
        return next((s for s in self.sessions if s.socket is socket), None)

    async def identified(self, socket: web.WebSocketResponse) -> None:
        """What Discord sends a session that just identified: READY, then its shard's guilds.

        READY carries ``shard`` when the IDENTIFY did, and lists the shard's guilds (from
        :meth:`add_guild`) as unavailable; a ``GUILD_CREATE`` follows for each.
        """
        session = self._session_on(socket)
        assert session is not None, "identified() before the session was opened"
        guilds = [g for g in self.guilds.values() if session.receives(int(g["id"]))]
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": 0},
        }
        if session.sharded:
            ready["shard"] = [session.shard, session.shard_count]
        await self.send_event(socket, "READY", ready)
        for guild in guilds:
            await self.send_event(socket, "GUILD_CREATE", guild)

    async def send_event(self, socket: web.WebSocketResponse, event: str, data: object) -> None:
        """One event on one connection, numbered in its session's own sequence."""
        session = self._session_on(socket)
        sequence = session.next_sequence() if session is not None else 1
        await socket.send_str(json.dumps({"op": 0, "t": event, "s": sequence, "d": data}))

    async def dispatch(self, event: str, data: dict[str, Any]) -> list[GatewaySession]:
        """Send one gateway event (``INTERACTION_CREATE``, ``MESSAGE_CREATE``…) to the bot.

        Routed as Discord routes it: an event of a guild (``guild_id``, or the ``id`` of a
        ``GUILD_*`` event) to every connected session whose shard is
        ``(guild_id >> 22) % shard_count``, any other (DMs) to every session of shard 0.
        Returns the sessions that got it (two of one shard: the event is handled twice).
        """
        guild_id = data.get("guild_id")
        if guild_id is None and event.startswith("GUILD_") and "id" in data:
            guild_id = data["id"]
        routed = int(guild_id) if guild_id is not None else None
        delivered = [s for s in self.sessions if s.connected and s.receives(routed)]
        for session in delivered:
            assert session.socket is not None
            await self.send_event(session.socket, event, data)
        return delivered

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        await super().stop()


@dataclass(eq=False)
class GatewaySession:
    """One gateway session: opened by an IDENTIFY, kept across RESUMEs.

    Times are ``time.monotonic()``: ``opened_at`` the IDENTIFY, ``closed_at`` the last
    disconnection (None while connected); :attr:`spans` every connected stretch.
    """

    session_id: str
    shard: int
    shard_count: int
    sharded: bool  # the IDENTIFY named a shard (READY then carries it)
    opened_at: float
    socket: web.WebSocketResponse | None = field(default=None, repr=False)
    closed_at: float | None = None
    close_code: int | None = None
    resumable: bool = True
    resumes: int = 0
    spans: list[tuple[float, float | None]] = field(default_factory=list)
    sequence: int = 0

    def __post_init__(self) -> None:
        self.spans.append((self.opened_at, None))

    @property
    def connected(self) -> bool:
        return self.socket is not None

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord routes an event of ``guild_id`` (None: a DM) to this session."""
        if guild_id is None:
            return self.shard == 0
        return shard_of(guild_id, self.shard_count) == self.shard

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def disconnect(self, code: int | None) -> None:
        now = time.monotonic()
        self.socket = None
        self.closed_at = now
        self.close_code = code
        start, _ = self.spans[-1]
        self.spans[-1] = (start, now)

    async def close(self, code: int, reason: str) -> None:
        """Discord closes the connection with ``code`` (recorded as the close code)."""
        socket = self.socket
        if socket is not None:
            self.disconnect(code)
            await socket.close(code=code, message=reason.encode())

    def reconnect(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket
        self.closed_at = None
        self.resumes += 1
        self.spans.append((time.monotonic(), None))

    def overlaps(self, other: GatewaySession) -> bool:
        """Whether this session and ``other`` were ever connected at the same time."""
        for start, end in self.spans:
            for other_start, other_end in other.spans:
                until = math.inf if end is None else end
                other_until = math.inf if other_end is None else other_end
                if start < other_until and other_start < until:
                    return True
        return False


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a guild's events to: ``(guild_id >> 22) % shard_count``."""
    return (guild_id >> 22) % shard_count


def shallow(message: dict[str, Any] | None) -> dict[str, Any] | None:
    """A message as Discord nests it in another: one level, without its own parent."""
    if message is None:
        return None
    return {k: v for k, v in message.items() if k != "referenced_message"}


def parse_body(recorded: RecordedRequest) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The JSON payload of a request and its uploaded files (multipart ``payload_json``)."""
    content_type = recorded.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/"):
        return (recorded.json() or {}), []
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + recorded.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    payload: dict[str, Any] = {}
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        data = part.get_payload(decode=True) or b""
        if part.get_param("name", header="content-disposition") == "payload_json":
            payload = json.loads(data)
        elif part.get_filename():
            files.append((str(part.get_filename()), bytes(data)))
    return payload, files
