"""Line editing for the console at a terminal: prompt_toolkit, history and completion.

Only the interactive console imports this module (a piped console reads plain lines).
History is kept across sessions in the user's data folder
(``$XDG_DATA_HOME/byok-bot/console_history``, else ``~/.local/share/byok-bot/…``),
readable by its owner only, and never holds a line the console would refuse to send:
one that looks like a key, or one with terminal control codes. Keys typed at the hidden
prompt never pass through here at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import create_input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import create_output
from prompt_toolkit.shortcuts import CompleteStyle
from prompt_toolkit.utils import is_dumb_terminal

from adapters.control_codes import has_control_codes
from bot.commands.ask import ASK_FLAGS
from bot.commands.keys import ADD_USAGE
from bot.commands.prefs import PREFERENCES
from bot.commands.summarize import SUMMARIZE_USAGE
from bot.commands.table import COMMAND_TABLE, COMMANDS_BY_NAME, FILE_COMMAND_WORDS
from bot.lookup import contains_key

__all__ = [
    "HISTORY_FILE",
    "CommandCompleter",
    "ConsoleHistory",
    "console_history",
    "history_path",
    "line_editor",
    "open_history",
]

HISTORY_FILE = Path("byok-bot") / "console_history"

_QUIT_WORDS = ("/quit", "/exit")
# Flags per command: /ask's from its parser, the others from the usage lines /help shows.
_FLAG = re.compile(r"--[a-z][a-z-]*")
_ASK_FLAGS = tuple(f"--{flag.name}" for flag in ASK_FLAGS)
_SUMMARIZE_FLAGS = (*_FLAG.findall(SUMMARIZE_USAGE), "--file")  # --file: console only
_ADD_FLAGS = tuple(_FLAG.findall(ADD_USAGE))
_PROVIDER_FLAGS = ("--provider", "-p")
_BYOK_SUBCOMMANDS = COMMANDS_BY_NAME["byok"].subcommands
_FILE_FLAG = "--file"
# Subcommands of /byok whose next word is not a provider.
_NOT_A_PROVIDER_NEXT = ("list", "prefs")
_FILE_COMMAND_NAMES = tuple(f"/{word}" for word in FILE_COMMAND_WORDS)


def keepable(line: str) -> bool:
    """Whether a line may be written to history: not a key, no terminal codes."""
    return not contains_key(line) and not has_control_codes(line)


def history_path(environ: Mapping[str, str]) -> Path:
    """Where the console keeps its history, by the XDG base directory rules."""
    data_home = environ.get("XDG_DATA_HOME", "")
    root = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return root / HISTORY_FILE


class ConsoleHistory(FileHistory):
    """A history file that never stores (nor recalls) a key-shaped or garbled line."""

    def load_history_strings(self) -> Iterable[str]:
        return [line for line in super().load_history_strings() if keepable(line)]

    def append_string(self, string: str) -> None:
        if keepable(string):
            super().append_string(string)


def open_history(path: Path) -> ConsoleHistory:
    """The history at ``path``: its folder made 0700 and the file 0600 before any write.

    Raises OSError when the folder or file cannot be made.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return ConsoleHistory(path)


def console_history(environ: Mapping[str, str]) -> tuple[History, str | None]:
    """The user's console history, or one kept in memory and why the file could not be."""
    try:
        path = history_path(environ)
    except RuntimeError:  # no home folder to be found
        return InMemoryHistory(), "History is not kept: set XDG_DATA_HOME or HOME."
    try:
        return open_history(path), None
    except OSError as exc:
        reason = (exc.strerror or "not writable").lower()
        return InMemoryHistory(), f"History is not kept: could not write {path} ({reason})."


class CommandCompleter(Completer):
    """Completes commands, /byok subcommands, providers, preferences and flags."""

    def __init__(self, provider_ids: Sequence[str]) -> None:
        self._providers = tuple(provider_ids)
        self._paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        words = before.split()
        current = "" if not before or before[-1].isspace() else words.pop()
        if words and words[-1] == _FILE_FLAG and words[0].lower() in _FILE_COMMAND_NAMES:
            yield from self._paths.get_completions(Document(current), complete_event)
            return
        for option in self._options(words, current):
            if option.lower().startswith(current.lower()):
                yield Completion(option + " ", start_position=-len(current))

    def _options(self, words: list[str], current: str) -> Sequence[str]:
        if not words:
            if current.startswith("/"):
                return (*(f"/{command.name}" for command in COMMAND_TABLE), *_QUIT_WORDS)
            return _ASK_FLAGS if current.startswith("-") else ()
        if words[-1] in _PROVIDER_FLAGS:
            return self._providers
        command = words[0].lower() if words[0].startswith("/") else "/ask"
        if command == "/byok":
            return self._byok_options(words[1:], current)
        if len(words) == 1 and command == "/help":
            return tuple(command.name for command in COMMAND_TABLE)
        if len(words) == 1 and command == "/usage":
            return _second_words_in_examples("usage")
        if not current.startswith("-"):
            return ()
        if command == "/ask":
            return _ASK_FLAGS
        return _SUMMARIZE_FLAGS if command in _FILE_COMMAND_NAMES else ()

    def _byok_options(self, args: list[str], current: str) -> Sequence[str]:
        if not args:
            return tuple(sub.name for sub in _BYOK_SUBCOMMANDS)
        sub = args[0].lower()
        if current.startswith("-"):
            return _ADD_FLAGS if sub == "add" else ()
        if len(args) > 1:
            return ()
        if sub == "prefs":
            return tuple(p.name for p in PREFERENCES)
        return () if sub in _NOT_A_PROVIDER_NEXT else self._providers


def _second_words_in_examples(name: str) -> tuple[str, ...]:
    """The arguments /help's examples show for a command (``/usage week`` → week)."""
    examples = (example.split() for example in COMMANDS_BY_NAME[name].examples)
    return tuple(words[1] for words in examples if len(words) == 2)


def _clear_line_bindings() -> KeyBindings:
    """Ctrl-C with text typed clears the line, like a shell; on an empty line it leaves."""
    bindings = KeyBindings()

    @bindings.add("c-c", filter=Condition(_has_text))
    def _clear(event: KeyPressEvent) -> None:
        event.current_buffer.reset()

    return bindings


def _has_text() -> bool:
    return bool(get_app().current_buffer.text)


def line_editor(
    stdin: TextIO, stdout: TextIO, history: History, provider_ids: Sequence[str]
) -> PromptSession[str]:
    """A prompt with editing, history and completion for the terminal on ``stdin``.

    On a dumb terminal (an Emacs shell buffer) prompt_toolkit still edits but draws only
    the typed text; it does so only with its default output (standard output), so that
    one is left to it then.
    """
    return PromptSession(
        input=create_input(stdin),
        output=None if is_dumb_terminal() else create_output(stdout=stdout),
        history=history,
        completer=CommandCompleter(provider_ids),
        complete_style=CompleteStyle.READLINE_LIKE,
        reserve_space_for_menu=0,
        key_bindings=_clear_line_bindings(),
    )
