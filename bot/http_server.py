"""The bot's one HTTP server: health, readiness, metrics, the providers list, Slack events.

``/healthz`` answers while the process runs; ``/readyz`` only when the database answers
and every started adapter says it is connected. ``/api/byok/providers`` lists providers
and their default models, as the original product did, with no secrets and no user data.

A malformed request (a bad request line, an oversized header, a broken body) gets aiohttp's
400 and one WARNING line at most a minute, never a traceback: anyone who can reach the port
can send them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.log_throttle import WarningThrottle
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from byok.db.database import Database
from byok.engine import Engine
from byok.errors import DatabaseUnavailableError
from byok.providers.models import legacy_models
from byok.providers.registry import PROVIDER_ALIASES

__all__ = ["HttpServer", "ReadinessCheck", "ReadinessDetail", "protocol_logger"]

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], tuple[str, bool]]  # (name, ready)
#: What ``/readyz`` reports besides its checks, e.g. the Discord shards this instance holds.
ReadinessDetail = Callable[[], Awaitable[tuple[str, object]]]  # (name, JSON-able value)


@dataclass
class HttpServer:
    engine: Engine
    metrics: Metrics
    host: str
    port: int
    readiness: list[ReadinessCheck] = field(default_factory=list)
    details: list[ReadinessDetail] = field(default_factory=list)
    #: Run before ``/metrics`` renders, to bring gauges up to date.
    before_scrape: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    extra_routes: Sequence[web.RouteDef] = ()
    _runner: web.AppRunner | None = None
    bound_port: int | None = None

    def __post_init__(self) -> None:
        # The labels of what it serves take only the providers and models offered.
        self.metrics.bind_catalog(self.engine.catalog)

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
                web.get("/metrics", self._metrics),
                web.get("/api/byok/providers", self._providers),
                *self.extra_routes,
            ]
        )
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, logger=protocol_logger())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self.port
        log.info("HTTP server listening on http://%s:%s", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        checks: dict[str, bool] = {"database": await _database_ready(self.engine.database)}
        for check in self.readiness:
            name, ready = check()
            checks[name] = ready
        ready = all(checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
        for detail in self.details:
            name, value = await detail()
            body[name] = value
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        for refresh in self.before_scrape:
            await refresh()
        response = web.Response(body=self.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _providers(self, request: web.Request) -> web.Response:
        providers = []
        for entry in self.engine.catalog:
            pid = entry.provider_id
            providers.append(
                {
                    "id": pid,
                    "name": entry.display_name,
                    "default_model": entry.default_model,
                    "aliases": sorted(a for a, target in PROVIDER_ALIASES.items() if target == pid),
                    "legacy_models": {m.name: m.replacement for m in legacy_models(pid)},
                    "operator_key_available": entry.operator_key_usable,
                }
            )
        return web.json_response({"providers": providers})


class _MalformedRequests(logging.Filter):
    """Turns aiohttp's traceback for a request it could not parse into a throttled warning.

    aiohttp answers such requests 400 itself, then logs "Error handling request" at ERROR
    with the parser's exception; that exception quotes the offending bytes, so only its
    class is named. Errors raised by our own handlers keep their traceback.
    """

    def __init__(self) -> None:
        super().__init__()
        self._warnings = WarningThrottle(log)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        self._warnings.warn(
            "malformed_http",
            "HTTP: answered %s to a malformed request (%s)",
            error.code,
            type(error).__name__,
        )
        return False


def protocol_logger() -> logging.Logger:
    """The logger aiohttp's connection handlers use, with malformed requests kept quiet."""
    logger = logging.getLogger("bot.http_server.protocol")
    if not any(isinstance(f, _MalformedRequests) for f in logger.filters):
        logger.addFilter(_MalformedRequests())
    return logger


async def _database_ready(database: Database) -> bool:
    try:
        await asyncio.wait_for(database.ping(), timeout=3)
    except (DatabaseUnavailableError, TimeoutError, OSError):
        return False
    return True
