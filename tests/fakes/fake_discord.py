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
:meth:`expire_interactions` (404 Unknown Interaction, 10062), and every
:class:`~tests.fakes.loopback.Fault`. Payloads for events come from
:mod:`tests.fakes.discord_events`.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.loopback import RECORDED, Fault, LoopbackServer, RecordedRequest

__all__ = ["BOT_USER", "FakeDiscord", "InteractionState", "parse_body", "shallow"]

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

    def __init__(self, token: str = "fake-bot-token") -> None:
        super().__init__()
        self.token = token
        self._ids = itertools.count(1_200_000_000_000_000_001)
        self.messages: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.interactions: dict[str, InteractionState] = {}  # by token
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id
        self.dm_channels: dict[str, str] = {}  # user id -> channel id
        self.files: dict[str, tuple[str, bytes]] = {}
        self.identify: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._sequence = 0
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

    async def drop_gateway(self) -> None:
        """Close every gateway connection and refuse new ones until :meth:`restore_gateway`."""
        self.gateway_open = False
        for socket in list(self._sockets):
            await socket.close()

    def restore_gateway(self) -> None:
        self.gateway_open = True

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if not self.gateway_open:
            return web.Response(status=503, text="gateway unavailable")
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45_000}}))
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if message["op"] == 1:  # heartbeat
                    await socket.send_str(json.dumps({"op": 11, "d": None}))
                elif message["op"] == 2:  # identify
                    self.identify.append(message["d"])
                    await self.identified(socket)
                    self.gateway_ready.set()
                elif message["op"] == 6:  # resume, after a short drop
                    await self.send_event(socket, "RESUMED", {})
        finally:
            self._sockets.remove(socket)
        return socket

    async def identified(self, socket: web.WebSocketResponse) -> None:
        """What Discord sends a session that just identified: READY (subclasses add more)."""
        await self.send_event(
            socket,
            "READY",
            {
                "v": 10,
                "user": self.bot_user,
                "guilds": [],
                "session_id": "fake-session",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": self.application_id, "flags": 0},
            },
        )

    async def send_event(self, socket: web.WebSocketResponse, event: str, data: object) -> None:
        self._sequence += 1
        await socket.send_str(json.dumps({"op": 0, "t": event, "s": self._sequence, "d": data}))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one gateway event (``INTERACTION_CREATE``, ``MESSAGE_CREATE``…) to the bot."""
        self._sequence += 1
        frame = {"op": 0, "t": event, "s": self._sequence, "d": data}
        for socket in list(self._sockets):
            await socket.send_str(json.dumps(frame))

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        await super().stop()


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
