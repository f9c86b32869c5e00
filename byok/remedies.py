"""What a user can do about an error, as data: the engine says *what* to do, the bot *how*.

The engine knows that a missing key is fixed by adding one, but not how a user adds
one: that is a command of the bot's (``bot.commands.table``), and the bot may rename
it. So an error's advice (:attr:`byok.errors.ByokError.advice`) is prose with remedies
in place of commands, e.g. ``("Add one with ", AddKey("xai"), ".")``, and the bot words
each remedy as its command (``bot.remedy_text``). No text of the engine names a
command, an option or a flag.

A remedy names what it needs to be done (the provider); the bot adds the rest a
command takes (``<usd>``, ``off``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AddKey",
    "Advice",
    "CheckKey",
    "ChooseMaxTokens",
    "ChooseModel",
    "ChooseProvider",
    "EnableKey",
    "RaiseLimit",
    "Remedy",
    "RemoveLimit",
    "SetAllowedModels",
    "SetPreferredModel",
    "remedies_in",
]


@dataclass(frozen=True, slots=True)
class Remedy:
    """Something the user can do with one of the bot's commands or options."""


# What a user does with their keys.


@dataclass(frozen=True, slots=True)
class AddKey(Remedy):
    """Add a key for ``provider_id`` (or replace the one stored); ``None``: for any provider."""

    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class CheckKey(Remedy):
    """Check the stored key with the provider again."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class EnableKey(Remedy):
    """Switch a disabled key back on."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class RaiseLimit(Remedy):
    """Set a higher monthly spending limit on the key."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class RemoveLimit(Remedy):
    """Take the monthly spending limit off the key."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class SetAllowedModels(Remedy):
    """Change the list of models the key may be used with."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class SetPreferredModel(Remedy):
    """Make a model the one the provider answers with by default."""

    provider_id: str


# What a user chooses for one request.


@dataclass(frozen=True, slots=True)
class ChooseModel(Remedy):
    """Name the model for this request."""


@dataclass(frozen=True, slots=True)
class ChooseProvider(Remedy):
    """Name the provider for this request."""


@dataclass(frozen=True, slots=True)
class ChooseMaxTokens(Remedy):
    """Name the most tokens the answer to this request may use."""


#: Advice to a user: prose, with a remedy where a command of the bot goes. Its parts are
#: joined as they are, so the prose carries its own spaces and punctuation.
Advice = tuple[str | Remedy, ...]


def remedies_in(advice: Iterable[str | Remedy]) -> tuple[Remedy, ...]:
    """The remedies ``advice`` names, in order."""
    return tuple(part for part in advice if isinstance(part, Remedy))
