"""The ``byok-bot`` entry point: the composition root, where chat adapters are started.

``bot.command_line`` holds the commands that need no chat platform (``db``, ``keys``, ...);
this module adds ``console``, ``digest`` and ``run``, which start adapters. The chat
platforms themselves are listed once, in :mod:`adapters.platforms`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from adapters.platforms import PLATFORMS, Platform, sections
from bot.chat_platform import ChatPlatform
from bot.command_line import COMMANDS, CONFIG_OPTION, Command, build_parser, execute, say
from bot.config import Config, ConfigSource
from bot.messenger import Messenger

__all__ = ["main"]

#: ``digest --send-now`` stops its platforms once every DM is sent: only a safety bound.
SEND_ONLY_GRACE_S = 10.0


async def _console(args: argparse.Namespace, config: Config, source: ConfigSource) -> int:
    from adapters.console import ConsoleAdapter
    from bot.app import build_app

    interactive = sys.stdin.isatty()
    app = await build_app(config)
    try:
        if interactive:
            say(f"Using {source.describe()}; database {app.engine.database.safe_url}.")
        adapter = ConsoleAdapter(
            app.dispatcher,
            args.user or getpass.getuser(),
            stdin=sys.stdin,
            stdout=sys.stdout,
            stderr=sys.stderr,
            interactive=interactive,
        )
        return await adapter.run()
    finally:
        await app.aclose()


async def _run(args: argparse.Namespace, config: Config, source: ConfigSource) -> int:
    from adapters.run import run_bot

    return await run_bot(config, source)


async def _digest(args: argparse.Namespace, config: Config, source: ConfigSource) -> int:
    from bot.app import build_catalog
    from bot.digest.runner import dry_run, send_now
    from bot.provider_names import ProviderNames
    from byok.db import Database, upgrade

    if args.dry_run == args.send_now:
        say("byok-bot digest: choose --dry-run (show what would be sent) or --send-now.")
        return 2
    database = Database(config.database.url)
    names = ProviderNames.of(build_catalog(config))
    try:
        if config.database.auto_migrate:
            await upgrade(database)
        if args.dry_run:
            charts = Path(args.charts) if args.charts else None
            say(
                await dry_run(
                    database, config.digest, user=args.user, charts_dir=charts, names=names
                )
            )
            return 0
        async with _messengers(config) as messengers:
            if not messengers:
                say(f"No chat platform is enabled ({sections(PLATFORMS)}): nothing can be sent.")
                return 1
            report = await send_now(database, config.digest, messengers, names=names)
        say(report.summary())
        return 0 if not report.failed else 1
    finally:
        await database.dispose()


@asynccontextmanager
async def _messengers(
    config: Config, platforms: tuple[Platform, ...] = PLATFORMS
) -> AsyncIterator[list[Messenger]]:
    """DM senders for the enabled platforms, without listening for events."""
    from bot.app import build_app

    found: list[Messenger] = []
    started: list[ChatPlatform] = []
    app = await build_app(config)
    try:
        for platform in platforms:
            if platform.enabled(config):
                chat = platform.build(config, app, None)
                await chat.start_for_sending()
                started.append(chat)
                found.append(chat.messenger)
        yield found
    finally:
        for chat in started:
            await chat.stop(SEND_ONLY_GRACE_S)
        await app.aclose()


def _parser() -> argparse.ArgumentParser:
    parser, sub = build_parser()
    console = sub.add_parser(
        "console",
        parents=[CONFIG_OPTION],
        help="use the bot in this terminal (no chat account needed)",
        description=(
            "Type commands such as /byok add openai, /ask …, /summarize --file meeting.vtt, "
            "/usage. With stdin piped, reads one command per line; /byok add then reads the "
            "key from the next line."
        ),
    )
    console.add_argument("--user", metavar="NAME", help="who you are (default: your login)")
    digest = sub.add_parser(
        "digest",
        parents=[CONFIG_OPTION],
        help="the weekly usage digest: preview it, or send the latest week now",
        description=(
            "--dry-run prints exactly what would be sent (nothing is sent or recorded); "
            "--send-now sends the latest full week to everyone due, once per user and week "
            "even beside running bots."
        ),
    )
    digest.add_argument("--dry-run", action="store_true", help="show, do not send")
    digest.add_argument("--send-now", action="store_true", help="send the latest full week")
    digest.add_argument("--user", metavar="PLATFORM:WORKSPACE:USER", help="only this user")
    digest.add_argument("--charts", metavar="DIR", help="with --dry-run: save the chart PNGs here")
    sub.add_parser(
        "run",
        parents=[CONFIG_OPTION],
        help="run the bot: enabled chat adapters, digest scheduler, HTTP server",
        description="Stops gracefully on SIGTERM or Ctrl-C, finishing requests in flight.",
    )
    return parser


COMMANDS_WITH_ADAPTERS: dict[str, Command] = {
    **COMMANDS,
    "console": _console,
    "digest": _digest,
    "run": _run,
}


def main(argv: Sequence[str] | None = None) -> int:
    return execute(_parser().parse_args(argv), COMMANDS_WITH_ADAPTERS)


if __name__ == "__main__":
    raise SystemExit(main())
