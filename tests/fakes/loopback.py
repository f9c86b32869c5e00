"""A loopback HTTP server for fakes of external services: start, record, inject faults.

Any fake (LLM providers here; Slack and Discord later) subclasses :class:`LoopbackServer`,
adds its routes in :meth:`LoopbackServer.setup_routes`, and answers through
:meth:`LoopbackServer.respond_json` / :meth:`LoopbackServer.respond_sse`, which apply the
injected faults. The server listens on ``127.0.0.1`` port 0 and ``start()`` returns once
it accepts connections, so tests never sleep and never collide on a port.

Usage::

    async with FakeSomething() as fake:
        fake.inject(Fault.http(503), path="/chat", times=2)
        ...                                  # drive the client under test
        assert fake.requests[-1].json()["model"] == "m"
        assert fake.connection_count == 1    # the client reused its connection

Faults, each consumed by the next matching request (``path`` is a substring match):

- ``Fault.http(status, body=None, headers=None)``: an error answer; with no body the fake
  renders its service's own error body for that status (:meth:`error_body`).
- ``Fault.rate_limited(retry_after="7", retry_after_ms=None)``: 429 with those headers.
- ``Fault.stall(after=None)``: never answer (until the server stops), or stall a stream
  after ``after`` events. Clients must give up on their own timeout.
- ``Fault.malformed(after=None)``: 200 with a body that is not JSON, or one broken event.
- ``Fault.cut(after=1)``: drop the connection midway (after ``after`` stream events, or
  halfway through a JSON body).
- ``Fault.truncate()``: end a stream cleanly but without the service's end events
  (``end_events`` of the fake: usage + ``[DONE]``, ``message_stop``...).
- ``Fault.stream_error(after=1, status=502)``: an error event inside a 200 stream.
- ``Fault.disconnect()``: close the connection without any answer.

Faults at a rate (soak tests): :meth:`LoopbackServer.set_fault_policy` draws a fault (or
none) for every request no injected fault matches. Long runs call
:meth:`LoopbackServer.forget` to drop what was recorded, and set
``handler_cancellation = True`` before ``start()`` so a stalled answer ends when its
client gives up instead of when the server stops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["FAULT", "RECORDED", "Fault", "FaultPolicy", "LoopbackServer", "RecordedRequest"]

FaultKind = Literal["http", "stall", "malformed", "cut", "truncate", "stream_error", "disconnect"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request exactly as the server received it."""

    method: str
    path: str
    query: Mapping[str, str]
    query_string: str
    headers: CIMultiDictProxy[str]
    body: bytes
    peer: tuple[str, int]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def url(self) -> str:
        """Path plus query string: everything that ends up in access logs."""
        return f"{self.path}?{self.query_string}" if self.query_string else self.path


@dataclass(frozen=True, slots=True)
class Fault:
    """A misbehaviour to inject into the next matching request."""

    kind: FaultKind
    status: int = 0
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)
    after: int | None = None
    message: str = ""

    @classmethod
    def http(
        cls, status: int, body: object = None, headers: Mapping[str, str] | None = None
    ) -> Fault:
        return cls("http", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limited(
        cls, retry_after: str | None = "7", retry_after_ms: str | None = None
    ) -> Fault:
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        return cls("http", status=429, headers=headers)

    @classmethod
    def stall(cls, after: int | None = None) -> Fault:
        return cls("stall", after=after)

    @classmethod
    def malformed(cls, after: int | None = None) -> Fault:
        return cls("malformed", after=after)

    @classmethod
    def cut(cls, after: int = 1) -> Fault:
        return cls("cut", after=after)

    @classmethod
    def truncate(cls) -> Fault:
        return cls("truncate")

    @classmethod
    def stream_error(
        cls, after: int = 1, status: int = 502, message: str = "Upstream provider failed"
    ) -> Fault:
        return cls("stream_error", status=status, after=after, message=message)

    @classmethod
    def disconnect(cls) -> Fault:
        return cls("disconnect")


#: Draws the fault (or None) for one request: see :meth:`LoopbackServer.set_fault_policy`.
FaultPolicy = Callable[[RecordedRequest], Fault | None]

RECORDED = web.RequestKey("recorded", RecordedRequest)
FAULT = web.RequestKey("fault", Fault)


@dataclass(slots=True)
class _Scripted:
    fault: Fault
    path: str | None
    remaining: int


class LoopbackServer:
    """Base of every loopback fake: aiohttp on 127.0.0.1:0, recording and faults."""

    #: How many trailing stream events mark a complete stream (dropped by ``truncate``).
    end_events = 1
    #: Cancel a request's handler when its client disconnects (aiohttp's option); set
    #: before ``start()``. Off by default, as in aiohttp.
    handler_cancellation = False
    #: Seconds each request waits before it is answered: a provider's time to first byte.
    latency_s = 0.0

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Scripted] = []
        self._policy: FaultPolicy | None = None
        self._peers: list[tuple[str, int]] = []
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        """Add the service's routes. Overridden by each fake."""

    async def start(self) -> Self:
        # Requests as large as the real services take (images inline reach tens of MB);
        # aiohttp's own default would refuse anything over 1 MB.
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self.setup_routes(app)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=0.5,
            handler_cancellation=self.handler_cancellation,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()  # returns once the socket listens: the server is ready
        server = site._server
        assert server is not None and server.sockets
        self._port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping.set()  # releases stalled handlers
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` with no trailing slash."""
        assert self._port, "server not started"
        return f"http://127.0.0.1:{self._port}"

    # -- scripting and inspection -----------------------------------------------------

    def inject(self, fault: Fault, *, path: str | None = None, times: int = 1) -> None:
        """Make the next ``times`` requests whose path contains ``path`` misbehave."""
        self._faults.append(_Scripted(fault, path, times))

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_fault_policy(self, policy: FaultPolicy | None) -> None:
        """Draw a fault for every request that no injected fault matches (None: no more)."""
        self._policy = policy

    def forget(self) -> None:
        """Drop what was recorded so far (long runs keep memory flat)."""
        self.requests.clear()
        self._peers.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path contains ``path``."""
        return [
            r for r in self.requests if path in r.path and (method is None or r.method == method)
        ]

    @property
    def connection_count(self) -> int:
        """How many distinct TCP connections the requests arrived on."""
        return len(set(self._peers))

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        for scripted in self._faults:
            if scripted.path is None or scripted.path in request.path:
                scripted.remaining -= 1
                if scripted.remaining <= 0:
                    self._faults.remove(scripted)
                return scripted.fault
        return self._policy(request) if self._policy is not None else None

    # -- what subclasses customise -------------------------------------------------

    def error_body(self, status: int, fault: Fault) -> object:
        """The service's own error body for ``status``. Overridden by each fake."""
        return {"error": {"code": status, "message": fault.message or f"HTTP {status}"}}

    def stream_error_event(self, fault: Fault) -> bytes:
        """The service's error event inside a 200 stream. Overridden by stream fakes."""
        body = {"error": {"code": fault.status, "message": fault.message}}
        return f"data: {json.dumps(body)}\n\n".encode()

    def malformed_event(self) -> bytes:
        """An event whose data is not JSON, in the service's event framing."""
        return b'data: {"broken": \n\n'

    # -- answering ---------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            query_string=request.query_string,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=await request.read(),
            peer=tuple(peer[:2]) if peer else ("", 0),
        )
        self.requests.append(recorded)
        self._peers.append(recorded.peer)
        request[RECORDED] = recorded
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self._take_fault(recorded)
        if fault is None:
            return await handler(request)
        if fault.kind == "http":
            body = fault.body if fault.body is not None else self.error_body(fault.status, fault)
            return self.json_response(body, fault.status, fault.headers)
        if fault.kind == "stall" and fault.after is None:
            await self._stopping.wait()
            return web.Response(status=503)
        if fault.kind == "disconnect":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        request[FAULT] = fault
        return await handler(request)

    @staticmethod
    def json_response(
        body: object, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        """JSON with exactly ``Content-Type: application/json`` (no charset: discord.py
        parses nothing else as JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return web.Response(body=data, status=status, headers=all_headers)

    async def respond_json(
        self,
        request: web.Request,
        body: object,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        """A JSON answer, unless the request's fault says to break it."""
        fault = request.get(FAULT)
        data = json.dumps(body).encode()
        if fault is not None and fault.kind in ("malformed", "truncate"):
            return self.json_response(data[: len(data) // 2], status, headers)
        if fault is not None and fault.kind in ("cut", "stall"):
            response = web.StreamResponse(
                status=status, headers={"Content-Type": "application/json", **(headers or {})}
            )
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            if fault.kind == "stall":
                await self._stopping.wait()
            elif request.transport is not None:
                request.transport.abort()
            return response
        return self.json_response(body, status, headers)

    async def respond_sse(
        self,
        request: web.Request,
        events: Sequence[bytes],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        """An event stream, each item one encoded event, broken as the fault says."""
        fault = request.get(FAULT)
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **(headers or {}),
            },
        )
        await response.prepare(request)
        if fault is not None and fault.kind == "truncate":
            events = events[: len(events) - self.end_events]
        for index, event in enumerate(events):
            if fault is not None and index == (fault.after or 0):
                if fault.kind == "cut":
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                if fault.kind == "stall":
                    await self._stopping.wait()
                    return response
                if fault.kind == "stream_error":
                    await response.write(self.stream_error_event(fault))
                    await response.write_eof()
                    return response
                if fault.kind == "malformed":
                    await response.write(self.malformed_event())
                    continue
            await response.write(event)
        await response.write_eof()
        return response
