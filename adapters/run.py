"""``byok-bot run``: every enabled adapter, the digest scheduler and the HTTP server.

It says what it started and what is missing, and a setting that stops an adapter from
starting (a refused token, an unreachable API) ends the process with exit code 2 and a
message naming that setting. On SIGTERM or SIGINT it stops taking new work, lets
commands in flight (and the weekly digest DM being sent) finish within ``[bot]
shutdown_grace_s`` so their usage is recorded, starts no digest run meanwhile, cancels
what is still running when the grace period is over (recorded as cancelled, never
lost), then stops the scheduler, the adapters and the HTTP server, writes the
usage rows still queued and closes the database. Exit codes: 0 after a clean stop, 2 for
a setting that kept it from starting, 1 otherwise (including usage rows an unavailable
database never took, which are counted in the log rather than waited on forever).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters.instance import Membership
from adapters.platforms import PLATFORMS, Platform, sections
from bot.app import close_abandoned_attempts
from bot.chat_platform import StartError
from bot.config import Config, ConfigSource
from bot.instances import InstanceRegistry
from bot.logs import config_secrets, configure_logging
from bot.messenger import Messenger
from bot.metrics import Metrics
from byok.db.database import unavailable_error
from byok.errors import ByokError, ConfigError

if TYPE_CHECKING:
    from bot.app import App
    from bot.http_server import HttpServer

__all__ = ["Running", "StartError", "run_bot"]

log = logging.getLogger("byok.run")

#: After the grace period, how long cancelled commands get to record their attempts.
CANCEL_WAIT_S = 5.0
#: How long the last usage rows may wait for an unavailable database before they are
#: reported lost (rather than the process hanging until it is killed).
FLUSH_WAIT_S = 5.0
ABANDONED_CHECK_EVERY_S = 3600.0
_BIND_ERRORS = {
    errno.EADDRINUSE: "address already in use: another process listens there",
    errno.EADDRNOTAVAIL: "that address is not one of this host's",
    errno.EACCES: "permission denied: ports below 1024 need privileges",
}

#: A stop function gets the seconds left of the grace period.
Stop = Callable[[float], Awaitable[None]]


@dataclass
class Running:
    """What was started, in order, so it can be stopped in reverse."""

    stops: list[tuple[str, Stop]] = field(default_factory=list)
    #: Called the moment shutdown begins, before commands are drained: start nothing new.
    stop_starting: list[Callable[[], None]] = field(default_factory=list)
    #: Then these: give shared work (Discord shards) to the other instances at once.
    hand_over: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    messengers: list[Messenger] = field(default_factory=list)


class _Signals:
    """SIGTERM and SIGINT set one event, from the first moment of ``run``."""

    def __init__(self) -> None:
        self.received = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self.received.is_set():
            log.info("received %s", sig.name)
        self.received.set()

    def remove(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.remove_signal_handler(sig)

    async def unless_stopped(self, work: Awaitable[None]) -> bool:
        """Run ``work`` unless a signal comes first (then cancel it); True if it finished."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.create_task(self.received.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False


async def run_bot(
    config: Config,
    source: ConfigSource,
    *,
    ready: asyncio.Event | None = None,
    platforms: tuple[Platform, ...] = PLATFORMS,
) -> int:
    """Run until SIGTERM/SIGINT; the exit code (0 after a clean stop)."""
    metrics = Metrics()
    configure_logging(config.logging.level, config.logging.format, config_secrets(config))
    signals = _Signals()
    try:
        return await _run(config, source, metrics, signals, ready, platforms)
    finally:
        signals.remove()


async def _run(
    config: Config,
    source: ConfigSource,
    metrics: Metrics,
    signals: _Signals,
    ready: asyncio.Event | None,
    platforms: tuple[Platform, ...],
) -> int:
    from bot.app import build_app
    from bot.http_server import HttpServer

    instance = config.bot.instance_name or f"{socket.gethostname()}-{os.getpid()}"
    log.info("byok-bot starting as %s with %s", instance, source.describe())
    try:
        app = await build_app(config, metrics)
    except ConfigError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except ByokError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except Exception as exc:
        unavailable = unavailable_error(config.database.url, exc)
        if unavailable is not None:
            log.error("cannot start: %s", unavailable)
            return 1
        log.exception("cannot start: the database or the vault could not be opened")
        return 1
    running = Running()
    http = HttpServer(app.engine, metrics, config.http.host, config.http.port)
    http.readiness.append(lambda: ("accepting_work", app.dispatcher.accepting))
    membership = Membership(
        InstanceRegistry(app.engine.database, instance, ttl_s=config.discord.shard_lease_s),
        metrics,
    )
    http.details.append(membership.readiness_detail)
    http.before_scrape.append(membership.status)
    code = 0
    grace = config.bot.shutdown_grace_s
    try:
        starting = _start_all(platforms, config, app, http, running, membership)
        started = await signals.unless_stopped(starting)
        if started:
            for line in running.started:
                log.info("started: %s", line)
            for line in running.missing:
                log.warning("not started: %s", line)
            if ready is not None:
                ready.set()
            await signals.received.wait()
        log.info(
            "stopping: no new work; waiting up to %ss for %d command(s) in flight",
            grace,
            app.dispatcher.in_flight,
        )
    except (StartError, ConfigError) as exc:
        log.error("cannot start: %s", exc)
        code = 2
    except Exception:
        log.exception("byok-bot could not start")
        code = 1
    finally:
        if not await _shut_down(app, running, grace) and code == 0:
            code = 1
    return code


async def _shut_down(app: App, running: Running, grace: float) -> bool:
    """Drain within ``grace``, cancel the rest, stop everything, flush usage, close.

    Returns False if usage rows could not be written (the database was unavailable).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    try:
        for stop_starting in running.stop_starting:
            stop_starting()
        app.dispatcher.accepting = False  # before the hand-over: readiness fails at once
        for hand_over in running.hand_over:
            try:
                await hand_over()
            except Exception:
                log.exception("error while handing work over to the other instances")
        if not await app.dispatcher.drain(grace):
            still = app.dispatcher.in_flight
            cancelled = await app.dispatcher.cancel_running(CANCEL_WAIT_S)
            log.warning(
                "grace period of %ss over: cancelled %d command(s) of %d still running; "
                "their attempts are recorded as cancelled",
                grace,
                cancelled,
                still,
            )
        for name, stop in reversed(running.stops):
            try:
                await stop(max(0.0, deadline - loop.time()))
            except Exception:
                log.exception("error while stopping %s", name)
            else:
                log.info("stopped: %s", name)
    finally:
        written = await _write_usage(app)
        await app.aclose()
        log.info(
            "byok-bot stopped: %s, database closed",
            "usage written" if written else "usage rows LOST",
        )
    return written


async def _write_usage(app: App) -> bool:
    """Write the usage rows still queued; False if the database would not take them."""
    ledger = app.engine.ledger
    queued = ledger.queued
    if not queued:
        return True
    log.info("writing %d queued usage row(s)", queued)
    try:
        await asyncio.wait_for(ledger.flush(), FLUSH_WAIT_S)
    except TimeoutError:
        log.error(
            "%d usage row(s) could not be written within %ss: the database is unavailable",
            ledger.queued,
            FLUSH_WAIT_S,
        )
        ledger.abandon()
        return False
    return True


async def _start_all(
    platforms: tuple[Platform, ...],
    config: Config,
    app: App,
    http: HttpServer,
    running: Running,
    membership: Membership,
) -> None:
    registry = membership.registry
    await registry.register()  # on SQLite, refused beside another live `run`
    running.stops.append(("instance registration", lambda _: membership.leave()))
    await _start_platforms(platforms, config, app, http, running, membership)
    await membership.keep_alive_unless_discord()
    app.dispatcher.ctx.reach_users_with(running.messengers)  # spend alerts by DM
    await _start_scheduler(config, app, running, registry.name)
    _start_closing_abandoned_attempts(app, running)
    if config.http.enabled:
        try:
            await http.start()
        except OSError as exc:
            why = _BIND_ERRORS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
            raise StartError(
                f"[http] cannot listen on {config.http.host}:{config.http.port} ({why}); "
                "set another [http] host or port"
            ) from None
        running.stops.append(("HTTP server", lambda _: http.stop()))
        running.started.append(f"HTTP server on http://{config.http.host}:{http.bound_port}")
    else:
        running.missing.append("HTTP server: [http] enabled = false")
    warming = asyncio.create_task(app.warm_providers())
    running.stops.append(("provider warm-up", lambda _: _cancel(warming)))
    running.started.append(await membership.describe())


async def _start_platforms(
    platforms: tuple[Platform, ...],
    config: Config,
    app: App,
    http: HttpServer,
    running: Running,
    membership: Membership,
) -> None:
    enabled = [platform for platform in platforms if platform.enabled(config)]
    for platform in platforms:
        if platform not in enabled:
            running.missing.append(platform.disabled)
            continue
        chat = platform.build(config, app, membership)
        await chat.start()
        running.hand_over.append(chat.hand_over)
        running.stops.append((platform.name, chat.stop))
        running.messengers.append(chat.messenger)
        http.extra_routes = [*http.extra_routes, *chat.routes()]
        http.readiness.append(chat.readiness)
        running.started.append(chat.describe())
    if not enabled:
        running.missing.append(
            f"no chat adapter is enabled: set {sections(platforms)} enabled = true "
            "(or use `byok-bot console`)"
        )


async def _start_scheduler(config: Config, app: App, running: Running, instance: str) -> None:
    if not config.digest.enabled:
        running.missing.append("weekly digest: [digest] enabled = false")
        return
    if not running.messengers:
        running.missing.append("weekly digest: no chat adapter to send it with")
        return
    from bot.digest.runner import DigestRunner
    from bot.digest.scheduler import DigestScheduler

    runner = DigestRunner(
        app.engine.database,
        config.digest,
        running.messengers,
        instance=instance,
        names=app.dispatcher.ctx.provider_names,
    )
    scheduler = DigestScheduler(runner, config.digest)
    await scheduler.start()
    running.stop_starting.append(scheduler.stop_starting)
    running.stops.append(("weekly digest scheduler", lambda left: scheduler.stop(wait_s=left)))
    running.started.append(f"weekly digest scheduler: {scheduler.schedule.describe()}")


def _start_closing_abandoned_attempts(app: App, running: Running) -> None:
    """Every hour (build_app did it at start): rows a crashed instance left pending."""

    async def every_hour() -> None:
        while True:
            await asyncio.sleep(ABANDONED_CHECK_EVERY_S)
            await close_abandoned_attempts(app.engine)

    task = asyncio.create_task(every_hour(), name="close abandoned usage rows")
    running.stops.append(("abandoned-row check", lambda _: _cancel(task)))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
