"""The ``byok-bot`` command line: ``byok-bot [--config PATH] <command>``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.chat_platform import StartError
from bot.commands.table import COMMAND_HINTS
from bot.config import Config, ConfigSource, load_config
from bot.logs import config_secrets, configure_logging
from bot.master_key import build_keyring
from byok.db import Database, head_revision, upgrade
from byok.db.database import unavailable_error
from byok.errors import ByokError, ConfigError, DatabaseUnavailableError
from byok.installations import InstallationStore
from byok.keystore import KeyStore
from byok.response_cache import delete_sealed_under_other_keys

__all__ = ["COMMANDS", "Command", "build_parser", "execute", "main", "say"]

Command = Callable[[argparse.Namespace, Config, ConfigSource], Coroutine[Any, Any, int]]


def say(text: str) -> None:
    print(text, flush=True)


async def _db_upgrade(args: argparse.Namespace, config: Config, source: ConfigSource) -> int:
    database = Database(config.database.url)
    try:
        before, after = await upgrade(database)
    finally:
        await database.dispose()
    if before == after:
        say(f"Database {database.safe_url} is up to date (revision {after}).")
    else:
        say(f"Database {database.safe_url} upgraded from {before or 'empty'} to {after}.")
    return 0


async def _db_current(args: argparse.Namespace, config: Config, source: ConfigSource) -> int:
    from byok.db import current_revision

    database = Database(config.database.url)
    try:
        current = await current_revision(database)
    finally:
        await database.dispose()
    head = head_revision()
    state = "up to date" if current == head else f"behind; run `byok-bot db upgrade` ({head})"
    say(f"{database.safe_url}: revision {current or 'none'} ({state})")
    return 0 if current == head else 1


async def _keys_rotate(args: argparse.Namespace, config: Config, source: ConfigSource) -> int:
    setup = build_keyring(config)
    database = Database(config.database.url)
    try:
        store = KeyStore(database, setup.keyring)
        report = await store.rotate(batch_size=args.batch_size)
        remaining = await store.count_by_master_key()
        installs_resealed, installs_unreadable = await InstallationStore(
            database, setup.keyring
        ).rotate()
        answers_deleted = await delete_sealed_under_other_keys(
            database, setup.keyring.current.key_id
        )
    finally:
        await database.dispose()
    current = setup.keyring.current.key_id
    say(
        f"Re-encrypted {report.rotated} key(s) under master key {current} "
        f"({setup.source}); {report.already_current} were already current."
    )
    if report.changed_meanwhile:
        say(
            f"{report.changed_meanwhile} key(s) were replaced or removed by their users "
            "during the run and were kept as the users left them."
        )
    if installs_resealed or installs_unreadable:
        say(
            f"Slack installations: {installs_resealed} re-encrypted"
            + (
                f", {installs_unreadable} unreadable (old key missing)"
                if installs_unreadable
                else ""
            )
            + "."
        )
    if answers_deleted:
        say(
            f"Deleted {answers_deleted} cached answer(s) sealed under an earlier master key "
            "(none of them could be served again)."
        )
    stale = {k: n for k, n in remaining.items() if k != current}
    if stale or installs_unreadable:
        detail = ", ".join(f"{n} under {k}" for k, n in stale.items()) or "Slack installations"
        say(
            f"{sum(stale.values())} key(s) could not be re-encrypted ({detail}): their old "
            "master key is not configured. Set BYOK_PREVIOUS_ENCRYPTION_PASSWORD and "
            "BYOK_PREVIOUS_ENCRYPTION_SALT (or BYOK_PREVIOUS_ENCRYPTION_KEY) to it and run "
            "this again."
        )
        return 1
    say("Every stored key now uses the current master key; the previous one can be removed.")
    return 0


_CONFIG_HELP = "config file (default: $BYOK_CONFIG, ./config.toml)"

# Given to every command's parser so that `byok-bot run --config PATH` works as well as
# `byok-bot --config PATH run`; SUPPRESS keeps an absent option from hiding the other.
CONFIG_OPTION = argparse.ArgumentParser(add_help=False)
CONFIG_OPTION.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=_CONFIG_HELP)


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[Any]]:
    """The parser with the commands that need no chat platform; callers may add more.

    Callers adding a command pass ``parents=[CONFIG_OPTION]`` so it takes ``--config`` too.
    """
    parser = argparse.ArgumentParser(
        prog="byok-bot",
        description="A Slack and Discord bot where every user brings their own LLM API keys.",
    )
    parser.add_argument("--config", metavar="PATH", help=_CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", metavar="<db command>", required=True
    )
    db.add_parser(
        "upgrade",
        help="create or migrate the database to the latest schema",
        parents=[CONFIG_OPTION],
    )
    db.add_parser("current", help="show the schema revision", parents=[CONFIG_OPTION])

    keys = sub.add_parser("keys", help="stored API keys").add_subparsers(
        dest="keys_command", metavar="<keys command>", required=True
    )
    rotate = keys.add_parser(
        "rotate",
        help="re-encrypt every stored key under the current master key",
        parents=[CONFIG_OPTION],
        description=(
            "Set the NEW master key as BYOK_ENCRYPTION_PASSWORD/SALT (or BYOK_ENCRYPTION_KEY) "
            "and the OLD one as BYOK_PREVIOUS_ENCRYPTION_PASSWORD/SALT (or "
            "BYOK_PREVIOUS_ENCRYPTION_KEY), then run this. Safe to interrupt and re-run."
        ),
    )
    rotate.add_argument("--batch-size", type=int, default=100, help=argparse.SUPPRESS)
    return parser, sub


COMMANDS: dict[str, Command] = {
    "db upgrade": _db_upgrade,
    "db current": _db_current,
    "keys rotate": _keys_rotate,
}


def _command_name(args: argparse.Namespace) -> str:
    parts = [args.command]
    for attr in ("db_command", "keys_command"):
        value = getattr(args, attr, None)
        if value:
            parts.append(value)
    return " ".join(parts)


#: Commands that serve for hours: they get uvloop's leaner event loop where it is installed.
#: Not the console: one person gains nothing from it, and under uvloop keys typed as the
#: prompt appears are read before prompt_toolkit's history has loaded (Up found nothing).
_LONG_RUNNING = frozenset({"run"})


def _run(name: str, main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine to completion, as ``asyncio.run`` would."""
    factory = _uvloop_factory() if name in _LONG_RUNNING else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # not on Windows (see pyproject.toml)
    except ImportError:
        return None
    return uvloop.new_event_loop


def execute(
    args: argparse.Namespace, commands: Mapping[str, Command], configure_logs: bool = True
) -> int:
    """Load the configuration and run the chosen command; errors become exit codes."""
    if configure_logs:
        # Key-shaped strings are masked from the start, the configured secrets once known.
        configure_logging("WARNING", "text")
    try:
        config, source = load_config(args.config)
        if configure_logs:
            configure_logging("WARNING", config.logging.format, config_secrets(config))
        command = commands[_command_name(args)]
        try:
            return _run(_command_name(args), command(args, config, source))
        except DBAPIError as exc:  # raised on a connection of its own, as migrations use
            unavailable = unavailable_error(config.database.url, exc)
            if unavailable is None:
                raise
            raise unavailable from exc
    except (ConfigError, StartError) as exc:  # both name the setting to check
        print(f"byok-bot: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailableError as exc:
        print(f"byok-bot: {exc}", file=sys.stderr)  # for operators: names [database] url
        return 1
    except ByokError as exc:
        print(f"byok-bot: {COMMAND_HINTS.error_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("byok-bot: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """The commands of this layer alone (no chat adapters); see adapters/cli.py."""
    parser, _ = build_parser()
    return execute(parser.parse_args(argv), COMMANDS)
