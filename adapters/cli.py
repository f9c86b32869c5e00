"""The ``byok-bot`` entry point: the composition root, where chat adapters are named.

``bot.cli`` holds the commands that need no chat platform (``db``, ``keys``, ...);
this module adds ``console`` and ``run``, which start adapters.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from bot.cli import COMMANDS, Command, build_parser, execute, say
from bot.config import Config, ConfigSource

__all__ = ["main"]


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


def _parser() -> argparse.ArgumentParser:
    parser, sub = build_parser()
    console = sub.add_parser(
        "console",
        help="use the bot in this terminal (no chat account needed)",
        description=(
            "Type commands such as /byok add openai, /ask …, /summarize --file meeting.vtt, "
            "/usage. With stdin piped, reads one command per line; /byok add then reads the "
            "key from the next line."
        ),
    )
    console.add_argument("--user", metavar="NAME", help="who you are (default: your login)")
    sub.add_parser(
        "run",
        help="run the bot: enabled chat adapters, digest scheduler, HTTP server",
        description="Stops gracefully on SIGTERM or Ctrl-C, finishing requests in flight.",
    )
    return parser


COMMANDS_WITH_ADAPTERS: dict[str, Command] = {**COMMANDS, "console": _console, "run": _run}


def main(argv: Sequence[str] | None = None) -> int:
    return execute(_parser().parse_args(argv), COMMANDS_WITH_ADAPTERS)


if __name__ == "__main__":
    raise SystemExit(main())
