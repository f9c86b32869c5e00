"""An error as a user reads it: what went wrong, then what to do, in this bot's commands.

The engine's errors name no command: their advice holds remedies
(:mod:`byok.remedies`) where a command goes. :class:`CommandHints` words each remedy
as the command or option that carries it out, found in the command table (a
subcommand row lists the remedies it carries out, an option its remedy), so renaming a
command there renames it in every hint. The table's hints are
``bot.commands.table.COMMAND_HINTS``; a command handler finds them as ``ctx.hints``.

Every error a user is shown is worded by :meth:`CommandHints.error_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.grammar import Flag
from byok.errors import ByokError
from byok.remedies import (
    AddKey,
    Advice,
    CheckKey,
    EnableKey,
    RaiseLimit,
    Remedy,
    RemoveLimit,
    SetAllowedModels,
    SetPreferredModel,
)

__all__ = ["CommandHints", "CommandRow", "SubcommandRow"]


class SubcommandRow(Protocol):
    """What hints read of a subcommand (``bot.commands.spec.Subcommand``)."""

    @property
    def name(self) -> str: ...

    @property
    def remedies(self) -> tuple[type[Remedy], ...]: ...


class CommandRow(Protocol):
    """What hints read of a command (``bot.commands.spec.ChatCommand``)."""

    @property
    def name(self) -> str: ...

    @property
    def subcommands(self) -> Sequence[SubcommandRow]: ...


class CommandHints:
    """Remedies worded as the commands of a command table and the options of its flags."""

    def __init__(self, commands: Sequence[CommandRow] = (), flags: Sequence[Flag] = ()) -> None:
        self._typed: dict[type[Remedy], str] = {}
        for command in commands:
            for sub in command.subcommands:
                for kind in sub.remedies:
                    self._typed.setdefault(kind, f"/{command.name} {sub.name}")
        for flag in flags:
            if flag.remedy is not None:
                self._typed.setdefault(flag.remedy, f"--{flag.name}")

    @property
    def empty(self) -> bool:
        """It names no command (a context the dispatcher has not yet given its table)."""
        return not self._typed

    def command(self, remedy: Remedy) -> str:
        """What to type: ``/byok add xai``, ``/byok limit xai <usd>``, ``--model``."""
        typed = self._typed.get(type(remedy))
        if typed is None:
            raise LookupError(f"no command or option carries out {type(remedy).__name__}")
        rest = _arguments(remedy)
        return f"{typed} {rest}" if rest else typed

    def remedy_text(self, remedy: Remedy) -> str:
        """The command as a chat message shows it: ```/byok add xai```."""
        return f"`{self.command(remedy)}`"

    def advice_text(self, advice: Advice) -> str:
        """The advice with each remedy worded as its command."""
        return "".join(p if isinstance(p, str) else self.remedy_text(p) for p in advice)

    def error_text(self, exc: ByokError) -> str:
        """The whole text a user is shown for ``exc``: its explanation, then its advice."""
        advice = self.advice_text(exc.advice)
        return f"{exc.explanation} {advice}" if advice else exc.explanation


def _arguments(remedy: Remedy) -> str:
    """What the command takes after its name, for ``remedy``; an option takes nothing
    here, its value is typed where it is needed."""
    if isinstance(remedy, AddKey):
        return remedy.provider_id or "<provider>"
    if isinstance(remedy, CheckKey | EnableKey):
        return remedy.provider_id
    if isinstance(remedy, RaiseLimit):
        return f"{remedy.provider_id} <usd>"
    if isinstance(remedy, RemoveLimit):
        return f"{remedy.provider_id} off"
    if isinstance(remedy, SetAllowedModels):
        return f"{remedy.provider_id} …"
    if isinstance(remedy, SetPreferredModel):
        return f"model {remedy.provider_id} <model>"
    return ""
