"""A loopback Slack: the Web API, file uploads and downloads, response_urls, Socket Mode.

slack-sdk's ``AsyncWebClient(base_url=fake.api_url)`` talks to it unmodified. Every call
is recorded as a :class:`SlackCall` with its arguments merged from the query string, a
form body and a JSON body (the SDK sends ``chat.*``/``views.*`` as JSON and
``conversations.open``/``files.*``/``auth.test`` as form or query). Messages, streams
and views are kept, so a test reads what a user would see::

    async with FakeSlack() as slack:
        slack.fail("chat.postMessage", "not_in_channel")     # Slack's own error answer
        slack.rate_limit("chat.update", retry_after="0")     # HTTP 429 + Retry-After
        ...
        await slack.wait_for(lambda: slack.calls_to("chat.update"))
        assert slack.messages["C111"][0]["text"] == "…"

Socket Mode: ``apps.connections.open`` (with an ``xapp-`` token) returns a fresh
``ws://127.0.0.1:P/link/?ticket=…`` URL; :meth:`FakeSlack.send_envelope` pushes an
envelope to a connected client and :meth:`FakeSlack.envelope_ack` awaits its
acknowledgement. Several connections behave as Slack's do for several instances of one
app: up to :attr:`FakeSlack.max_connections` (10) are open at once and one more is told
``disconnect`` (``too_many_websockets``) and closed; envelopes go to one connection each,
in turn; an ``events_api`` envelope not acknowledged within :attr:`FakeSlack.ack_timeout`
is sent again (a new envelope, preferably on another connection) with ``retry_attempt``
and ``retry_reason: "timeout"``, up to three times; :attr:`FakeSlack.deliveries` records
each. :meth:`FakeSlack.drop_connection` sends Slack's ``disconnect`` and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.loopback import RECORDED, Fault, LoopbackServer, RecordedRequest

__all__ = ["Delivery", "FakeSlack", "SlackCall", "SocketConnection"]

_JSON_FIELDS = {"blocks", "view", "attachments", "files", "chunks", "prompts", "metadata"}
#: How often Slack sends an unacknowledged Events API envelope again.
EVENT_RETRIES = 3


@dataclass(frozen=True, slots=True)
class SlackCall:
    method: str
    args: dict[str, Any]
    token: str | None
    request: RecordedRequest
    #: HTTP status of the answer: 429 when :meth:`FakeSlack.rate_limit` refused it.
    status: int = 200


@dataclass(eq=False)
class SocketConnection:
    """One Socket Mode WebSocket, numbered in the order it opened (from 0)."""

    index: int
    socket: web.WebSocketResponse
    opened_at: float  # time.monotonic()
    closed_at: float | None = None
    #: Told ``too_many_websockets`` and closed: it never counted as open.
    refused: bool = False

    @property
    def open(self) -> bool:
        return self.closed_at is None and not self.refused


@dataclass(frozen=True, slots=True)
class Delivery:
    """One envelope sent on one connection."""

    envelope_id: str
    #: The id :meth:`FakeSlack.send_envelope` returned: shared by an event's retries.
    sent_as: str
    connection: int
    attempt: int  # ``retry_attempt``: 0 for the first delivery


class FakeSlack(LoopbackServer):
    team_id = "T111"
    bot_user_id = "U0BOT"
    bot_id = "B0BOT"
    #: Socket Mode connections Slack keeps open at once for one app.
    max_connections = 10

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[SlackCall] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.opened: list[dict[str, Any]] = []
        self.published: dict[str, dict[str, Any]] = {}
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.files: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.responses: list[dict[str, Any]] = []
        #: Tokens other than xoxb-/xapp- ones that belong to another team (OAuth installs).
        self.team_of_token: dict[str, str] = {}
        self.oauth_access: dict[str, Any] | None = None
        self.socket_messages: list[dict[str, Any]] = []
        self._errors: list[tuple[str, str, int]] = []
        self._limits: list[tuple[str, str, int]] = []
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        #: Set while at least one Socket Mode connection is open.
        self.socket_connected = asyncio.Event()
        self.connections: list[SocketConnection] = []  # every one ever opened
        self.deliveries: list[Delivery] = []
        #: Seconds Slack waits for an ``events_api`` envelope's ack before sending it again.
        self.ack_timeout = 3.0
        self._turn = itertools.count()
        self._retrying: set[str] = set()  # envelope ids whose ack a retry waits for
        self._acks: set[str] = set()
        self._retries: set[asyncio.Task[None]] = set()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # -- scripting ----------------------------------------------------------------------

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer ``{"ok": false, "error": error}``."""
        self._errors.append((method, error, times))

    def rate_limit(self, method: str, *, retry_after: str = "0", times: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 429 with ``Retry-After``.

        They are recorded like any call (and wake :meth:`wait_for`), with
        :attr:`SlackCall.status` 429.
        """
        self._limits.append((method, retry_after, times))

    def share_file(
        self,
        name: str,
        content: bytes,
        *,
        file_id: str | None = None,
        mimetype: str = "text/plain",
        filetype: str = "text",
    ) -> dict[str, Any]:
        """A file as it appears in a message event, downloadable with a bot token (Slack
        names its type from the file's name: ``mimetype``/``filetype`` say what it said)."""
        file_id = file_id or f"F{next(self._ids):04d}"
        self.files[file_id] = content
        return {
            "id": file_id,
            "name": name,
            "size": len(content),
            "mimetype": mimetype,
            "filetype": filetype,
            "url_private": f"{self.url}/files-pri/{file_id}/{name}",
            "url_private_download": f"{self.url}/files-pri/{file_id}/download/{name}",
        }

    def response_url(self) -> str:
        return f"{self.url}/response/{next(self._ids)}"

    def forget(self) -> None:
        """Drop recorded calls and kept messages, views and files (long runs)."""
        super().forget()
        kept_lists: tuple[list[Any], ...] = (
            self.calls,
            self.ephemeral,
            self.opened,
            self.responses,
            self.socket_messages,
            self.deliveries,
        )
        for kept in kept_lists:
            kept.clear()
        for store in (self.messages, self.views, self.published, self.threads, self.uploads):
            store.clear()

    # -- inspection ---------------------------------------------------------------------

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def texts(self, channel: str) -> list[str]:
        """What each message in ``channel`` shows: its streamed text or its blocks' text."""
        return [m.get("streamed") or _shown(m) for m in self.messages.get(channel, [])]

    async def wait_for(self, condition: Callable[[], Any], within: float = 5.0) -> None:
        """Until ``condition()`` holds, re-checked after every recorded call (bounded)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), within)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- the Web API ----------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{file_id}/{rest:.*}", self._download)
        app.router.add_post("/response/{id}", self._response)
        app.router.add_get("/link/", self._link)

    def error_body(self, status: int, fault: Fault) -> object:
        return {"ok": False, "error": fault.message or f"http_{status}"}

    async def _args(self, request: web.Request, recorded: RecordedRequest) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        content_type = request.headers.get("Content-Type", "")
        body = recorded.body.decode("utf-8", "replace")
        if "json" in content_type and body:
            args.update(json.loads(body))
        elif "x-www-form-urlencoded" in content_type:
            args.update(parse_qsl(body, keep_blank_values=True))
        for name in _JSON_FIELDS & set(args):
            if isinstance(args[name], str):
                with contextlib.suppress(ValueError):
                    args[name] = json.loads(args[name])
        return args

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        recorded = request[RECORDED]
        args = await self._args(request, recorded)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        limited = _take(self._limits, method)
        self.calls.append(SlackCall(method, args, token, recorded, 429 if limited else 200))
        try:
            if limited is not None:
                body = {"ok": False, "error": "ratelimited"}
                return self.json_response(body, 429, {"Retry-After": limited})
            for index, (name, error, times) in enumerate(self._errors):
                if name == method:
                    if times <= 1:
                        del self._errors[index]
                    else:
                        self._errors[index] = (name, error, times - 1)
                    return await self.respond_json(request, {"ok": False, "error": error})
            if method != "oauth.v2.access" and not _valid(token, method):
                return await self.respond_json(request, {"ok": False, "error": "invalid_auth"})
            handler = getattr(self, "m_" + method.replace(".", "_"), None)
            if handler is None:
                return await self.respond_json(request, {"ok": False, "error": "unknown_method"})
            try:
                answer = {"ok": True, **handler(args, token)}
            except _SlackError as exc:
                answer = {"ok": False, "error": exc.error}
            return await self.respond_json(request, answer)
        finally:
            await self._notify()

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def m_auth_test(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        team = self.team_of_token.get(token or "", self.team_id)
        return {
            "url": "https://fake.slack.test/",
            "team": "Fake",
            "user": "byok-bot",
            "team_id": team,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
        }

    def m_apps_connections_open(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        port = self.url.rsplit(":", 1)[1]
        return {"url": f"ws://127.0.0.1:{port}/link/?ticket={secrets.token_hex(16)}"}

    def m_chat_postMessage(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        ts = self._next_ts()
        message = {"user": self.bot_user_id, "bot_id": self.bot_id, **args, "ts": ts}
        self.messages.setdefault(args["channel"], []).append(message)
        return {
            "channel": args["channel"],
            "ts": ts,
            "message": {"text": args.get("text"), "ts": ts},
        }

    def m_chat_postEphemeral(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        self.ephemeral.append(args)
        return {"message_ts": self._next_ts()}

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def m_chat_update(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        message = self._find(args["channel"], args["ts"])
        if message is None:
            raise _SlackError("message_not_found")
        message.update({k: v for k, v in args.items() if k not in ("channel", "ts")})
        return {"channel": args["channel"], "ts": args["ts"], "text": args.get("text")}

    def m_chat_delete(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        messages = self.messages.get(args["channel"], [])
        self.messages[args["channel"]] = [m for m in messages if m["ts"] != args["ts"]]
        return {"channel": args["channel"], "ts": args["ts"]}

    def m_chat_startStream(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        ts = self._next_ts()
        message = {**args, "ts": ts, "streaming": True, "streamed": _chunk_text(args)}
        self.messages.setdefault(args["channel"], []).append(message)
        return {"channel": args["channel"], "ts": ts}

    def m_chat_appendStream(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        message = self._find(args["channel"], args["ts"])
        if message is None or not message.get("streaming"):
            raise _SlackError("message_not_in_streaming_state")
        message["streamed"] += _chunk_text(args)
        return {"channel": args["channel"], "ts": args["ts"]}

    def m_chat_stopStream(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        message = self._find(args["channel"], args["ts"])
        if message is None or not message.get("streaming"):
            raise _SlackError("message_not_in_streaming_state")
        message["streamed"] += _chunk_text(args)
        message["streaming"] = False
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        return {"channel": args["channel"], "ts": args["ts"], "message": {"ts": args["ts"]}}

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id") or f"V{next(self._ids):04d}"
        view = {**args["view"], "id": view_id}
        self.views[view_id] = view
        return {"view": view}

    def m_views_open(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        answer = self._view(args)
        self.opened.append(answer["view"])
        return answer

    def m_views_update(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        return self._view(args)

    def m_views_push(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        return self._view(args)

    def m_views_publish(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        self.published[args["user_id"]] = args["view"]
        return self._view(args)

    def m_conversations_open(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        return {"channel": {"id": "D" + str(args["users"]).lstrip("UW")}}

    def m_conversations_replies(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        """Oldest first, ``limit`` a page (Slack's default 1000), ``cursor`` for the next.

        A thread is what a test put in :attr:`threads`, else the messages kept in the
        channel whose ts or thread_ts is the thread's.
        """
        channel, root = args["channel"], args["ts"]
        thread = self.threads.get((channel, root))
        if thread is None:
            kept = self.messages.get(channel, [])
            thread = [m for m in kept if root in (m["ts"], m.get("thread_ts"))]
        thread = sorted(thread, key=lambda m: float(m["ts"]))
        latest, oldest = args.get("latest"), args.get("oldest")
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        if latest:
            thread = [
                m
                for m in thread
                if float(m["ts"]) < float(latest) or (inclusive and float(m["ts"]) == float(latest))
            ]
        if oldest:
            thread = [
                m
                for m in thread
                if float(m["ts"]) > float(oldest) or (inclusive and float(m["ts"]) == float(oldest))
            ]
        start = int(args.get("cursor") or 0)
        limit = int(args.get("limit") or 1000)
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        return {
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def m_files_getUploadURLExternal(
        self, args: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        file_id = f"F{next(self._ids):04d}"
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def m_files_completeUploadExternal(
        self, args: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        files = args.get("files") or []
        return {"files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def m_files_info(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        return {"file": {"id": args.get("file"), "name": "file"}}

    def m_assistant_threads_setStatus(
        self, args: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        return {}

    def m_assistant_threads_setSuggestedPrompts(
        self, args: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        return {}

    def m_assistant_threads_setTitle(
        self, args: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        return {}

    def m_oauth_v2_access(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if self.oauth_access is None:
            raise _SlackError("invalid_code")
        return self.oauth_access

    # -- everything around the Web API --------------------------------------------------

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        body = request[RECORDED].body
        self.uploads[request.match_info["file_id"]] = body
        await self._notify()
        return web.Response(text=f"OK - {len(body)}")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not _valid(auth.removeprefix("Bearer "), "files"):
            return web.Response(status=302, headers={"Location": "/login"})
        content = self.files.get(request.match_info["file_id"])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="text/plain")

    async def _response(self, request: web.Request) -> web.StreamResponse:
        self.responses.append(json.loads(request[RECORDED].body or b"{}"))
        await self._notify()
        return web.Response(text="ok")

    # -- Socket Mode ----------------------------------------------------------------------

    @property
    def open_connections(self) -> list[SocketConnection]:
        return [c for c in self.connections if c.open]

    async def _link(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        connection = SocketConnection(len(self.connections), socket, time.monotonic())
        self.connections.append(connection)
        if len(self.open_connections) > self.max_connections:
            connection.refused = True
            await socket.send_json(_disconnect("too_many_websockets", connection.index))
            await socket.close()
            connection.closed_at = time.monotonic()
            await self._notify()
            return socket
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_connections),
                "debug_info": {"host": _host(connection.index), "build_number": 1},
                "connection_info": {"app_id": "A111"},
            }
        )
        self.socket_connected.set()
        await self._notify()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    answer = json.loads(message.data)
                    self.socket_messages.append(answer)
                    if answer.get("envelope_id") in self._retrying:
                        self._acks.add(answer["envelope_id"])
                    await self._notify()
        finally:
            connection.closed_at = connection.closed_at or time.monotonic()
            if not self.open_connections:
                self.socket_connected.clear()
            await self._notify()
        return socket

    async def drop_connection(self, index: int, reason: str = "refresh_requested") -> None:
        """Slack's ``disconnect`` message (``refresh_requested``, ``warning``…), then close.

        A Socket Mode client answers it by opening a new connection.
        """
        connection = self.connections[index]
        assert connection.open, f"connection {index} is not open"
        with contextlib.suppress(ConnectionError):
            await connection.socket.send_json(_disconnect(reason, index))
        await connection.socket.close()
        connection.closed_at = time.monotonic()
        if not self.open_connections:
            self.socket_connected.clear()
        await self._notify()

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True
    ) -> str:
        """Push one Socket Mode envelope to one open connection, in turn; returns its id.

        An ``events_api`` envelope carries ``retry_attempt: 0`` and ``retry_reason: ""``
        and, unacknowledged after :attr:`ack_timeout`, is sent again (see the module doc).
        """
        assert self.open_connections, "no Socket Mode client connected"
        envelope_id = f"env-{next(self._ids)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
            self._retrying.add(envelope_id)
        connection = await self._deliver(envelope, envelope_id, avoid=set())
        if kind == "events_api":
            task = asyncio.create_task(self._retry_unacked(envelope, connection))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        return envelope_id

    async def _deliver(
        self, envelope: dict[str, Any], sent_as: str, *, avoid: set[int]
    ) -> int | None:
        """Send on the next open connection not in ``avoid`` (any open one if none is left)."""
        candidates = self.open_connections
        if not candidates:
            return None
        others = [c for c in candidates if c.index not in avoid] or candidates
        connection = others[next(self._turn) % len(others)]
        self.deliveries.append(
            Delivery(
                envelope["envelope_id"],
                sent_as,
                connection.index,
                int(envelope.get("retry_attempt") or 0),
            )
        )
        await connection.socket.send_json(envelope)
        await self._notify()
        return connection.index

    async def _retry_unacked(self, envelope: dict[str, Any], first: int | None) -> None:
        """Slack's Events API retries: a new envelope each time the last one went unacked."""
        sent_as = envelope["envelope_id"]
        sent = [sent_as]
        tried = set() if first is None else {first}
        try:
            for attempt in range(1, EVENT_RETRIES + 1):
                await asyncio.sleep(self.ack_timeout)
                if self._acks.intersection(sent):
                    return
                retry = {
                    **envelope,
                    "envelope_id": f"env-{next(self._ids)}",
                    "retry_attempt": attempt,
                    "retry_reason": "timeout",
                }
                self._retrying.add(retry["envelope_id"])
                sent.append(retry["envelope_id"])
                connection = await self._deliver(retry, sent_as, avoid=tried)
                if connection is not None:
                    tried.add(connection)
        finally:
            self._retrying.difference_update(sent)
            self._acks.difference_update(sent)

    async def retries_settled(self, within: float = 30.0) -> None:
        """Until every ``events_api`` envelope sent so far is acked or out of retries."""
        if self._retries:
            await asyncio.wait_for(asyncio.gather(*self._retries), within)

    async def envelope_ack(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        def acked() -> dict[str, Any] | None:
            return next(
                (m for m in self.socket_messages if m.get("envelope_id") == envelope_id), None
            )

        await self.wait_for(acked, within)
        found = acked()
        assert found is not None
        return found

    async def stop(self) -> None:
        for task in list(self._retries):
            task.cancel()
        for connection in self.open_connections:
            await connection.socket.close()
        await super().stop()


def _host(index: int) -> str:
    return f"applink-{index}"


def _disconnect(reason: str, index: int) -> dict[str, Any]:
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": _host(index)}}


def _take(scripted: list[tuple[str, str, int]], method: str) -> str | None:
    """Use up one of ``method``'s scripted answers; returns its value."""
    for index, (name, value, times) in enumerate(scripted):
        if name == method:
            if times <= 1:
                del scripted[index]
            else:
                scripted[index] = (name, value, times - 1)
            return value
    return None


class _SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _valid(token: str | None, method: str) -> bool:
    if not token:
        return False
    if method == "apps.connections.open":
        return token.startswith("xapp-")
    return token.startswith("xoxb-")


def _chunk_text(args: dict[str, Any]) -> str:
    text = str(args.get("markdown_text") or "")
    for chunk in args.get("chunks") or []:
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += str(chunk.get("text") or "")
    return text


def _shown(message: dict[str, Any]) -> str:
    texts: list[str] = []
    for block in message.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        for field in block.get("fields") or []:
            texts.append(field["text"])
        for element in block.get("elements") or []:
            if isinstance(element, dict) and "text" in element and isinstance(element["text"], str):
                texts.append(element["text"])
    return "\n".join(texts) or str(message.get("text") or "")
