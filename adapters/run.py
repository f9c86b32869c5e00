"""``byok-bot run``: every enabled adapter, the digest scheduler and the HTTP server.

It says what it started and what is missing. On SIGTERM or SIGINT it stops taking new
work, lets commands in flight finish (bounded by ``[bot] shutdown_grace_s``) so their
usage is recorded, then stops adapters, the scheduler, the HTTP server and the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import Config, ConfigSource
from bot.logs import configure_logging
from bot.messenger import Messenger
from bot.metrics import Metrics

if TYPE_CHECKING:
    from bot.app import App
    from bot.http_server import HttpServer

__all__ = ["Running", "run_bot"]

log = logging.getLogger("byok.run")


@dataclass
class Running:
    """What was started, in order, so it can be stopped in reverse."""

    stops: list[tuple[str, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    messengers: list[Messenger] = field(default_factory=list)


def _literal_secrets(config: Config) -> list[str]:
    values = [
        config.slack.bot_token,
        config.slack.app_token,
        config.slack.signing_secret,
        config.slack.client_secret,
        config.discord.token,
    ]
    values += [p.operator_key for p in config.providers.values()]
    return [v.get_secret_value() for v in values if v is not None]


async def run_bot(
    config: Config, source: ConfigSource, *, ready: asyncio.Event | None = None
) -> int:
    from bot.app import build_app
    from bot.http_server import HttpServer

    metrics = Metrics()
    redactor = configure_logging(
        config.logging.level, config.logging.format, _literal_secrets(config)
    )
    instance = config.bot.instance_name or f"{socket.gethostname()}-{os.getpid()}"
    log.info("byok-bot starting as %s with %s", instance, source.describe())
    app = await build_app(config, metrics)
    for literal in app.keyring.secrets:
        redactor.add_literal(literal)
    running = Running()
    http = HttpServer(app.engine, metrics, config.http.host, config.http.port)
    try:
        await _start_adapters(config, app, metrics, http, running)
        if config.http.enabled:
            await http.start()
            running.stops.append(("HTTP server", http.stop))
            running.started.append(f"HTTP server on http://{config.http.host}:{http.bound_port}")
        else:
            running.missing.append("HTTP server: [http] enabled = false")
        for line in running.started:
            log.info("started: %s", line)
        for line in running.missing:
            log.warning("not started: %s", line)
        warming = asyncio.create_task(app.warm_providers())
        running.stops.append(("provider warm-up", lambda: _cancel(warming)))
        if ready is not None:
            ready.set()
        await _wait_for_signal()
        log.info(
            "stopping: no new work; waiting up to %ss for %d command(s) in flight",
            config.bot.shutdown_grace_s,
            app.dispatcher.in_flight,
        )
        drained = await app.dispatcher.drain(config.bot.shutdown_grace_s)
        if not drained:
            log.warning(
                "grace period over with %d command(s) still running", app.dispatcher.in_flight
            )
    finally:
        for name, stop in reversed(running.stops):
            try:
                await stop()
            except Exception:
                log.exception("error while stopping %s", name)
        await app.aclose()
        log.info("byok-bot stopped")
    return 0


async def _start_adapters(
    config: Config, app: App, metrics: Metrics, http: HttpServer, running: Running
) -> None:
    if config.slack.enabled:
        from adapters.slack import SlackAdapter
        from byok.installations import InstallationStore

        installations = (
            InstallationStore(app.engine.database, app.keyring.keyring)
            if config.slack.client_id
            else None
        )
        slack = SlackAdapter(app.dispatcher, config.slack, installations=installations)
        await slack.start()
        running.stops.append(("Slack", lambda: slack.stop(grace_s=config.bot.shutdown_grace_s)))
        running.messengers.append(slack.messenger)
        http.extra_routes = [*http.extra_routes, *slack.routes()]
        http.readiness.append(slack.readiness)
        how = "Socket Mode" if config.slack.mode == "socket" else "HTTP mode at /slack/events"
        oauth = ", OAuth installs at /slack/install" if installations else ""
        running.started.append(f"Slack: {how}{oauth}")
    else:
        running.missing.append("Slack: [slack] enabled = false")
    if config.discord.enabled:
        from adapters.discord import DiscordAdapter

        discord_adapter = DiscordAdapter(app.dispatcher, config.discord)
        await discord_adapter.start()
        running.stops.append(
            ("Discord", lambda: discord_adapter.stop(grace=config.bot.shutdown_grace_s))
        )
        running.messengers.append(discord_adapter.messenger)
        http.readiness.append(lambda: ("discord", discord_adapter.connected))
        running.started.append(
            "Discord: connected"
            + (
                f", commands registered to guild {config.discord.dev_guild_id}"
                if config.discord.dev_guild_id
                else ", commands registered globally"
            )
        )
    else:
        running.missing.append("Discord: [discord] enabled = false")
    if not config.slack.enabled and not config.discord.enabled:
        running.missing.append(
            "no chat adapter is enabled: set [slack] or [discord] enabled = true "
            "(or use `byok-bot console`)"
        )


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
