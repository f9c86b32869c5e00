"""The engine speaks no command syntax: no text of ``byok/`` names a chat command or option.

Advice that needs one holds a remedy (``byok/remedies.py``) that the bot words as its
command (``bot/remedy_text.py``). Docstrings and comments may name commands (they
explain, to developers, where a value comes from); string literals may not, since any
of them may reach a user. The operator's command line (``byok-bot db upgrade``) is no
chat command: it may be named in text meant for operators.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.table import COMMAND_TABLE

ENGINE = Path(__file__).resolve().parent.parent / "byok"

_WORDS = sorted({word for command in COMMAND_TABLE for word in command.names})
#: A command of the table (``/byok``, ``/ask``, an alias; not ``sqlite:///byok.db``) or
#: any option (``--model``, ``--max-tokens``, ``--label``).
COMMAND_SYNTAX = re.compile(
    rf"(?<![\w/:.])/(?:{'|'.join(map(re.escape, _WORDS))})\b|(?<![\w-])--[a-z][a-z-]*\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module and of its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def string_literals(source: str) -> Iterator[tuple[int, str]]:
    """Each string literal of ``source`` but docstrings, with its line; the literal parts
    of an f-string are literals too."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and id(node) not in docstrings:
            yield node.lineno, node.value


def command_syntax_in(source: str) -> list[tuple[int, str]]:
    return [(line, text) for line, text in string_literals(source) if COMMAND_SYNTAX.search(text)]


def test_no_string_of_the_engine_names_a_command_or_option() -> None:
    found = [
        f"{path.relative_to(ENGINE.parent)}:{line}: {text!r}"
        for path in sorted(ENGINE.rglob("*.py"))
        for line, text in command_syntax_in(path.read_text(encoding="utf-8"))
    ]
    assert not found, "command syntax in byok/ (use a remedy, byok/remedies.py):\n" + "\n".join(
        found
    )


@pytest.mark.parametrize(
    "source",
    [
        'raise ByokError("x", explanation="Add one with `/byok add xai`.")',
        'advice = (f"Ask with another `--model` for {name}",)',
        'hint = "try /ask again"',
        'text = f"{a} --max-tokens {b}"',
        'word = "/keys add"',  # an alias is a command too
    ],
)
def test_the_scan_finds_command_syntax(source: str) -> None:
    assert command_syntax_in(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Typed as ``/byok add xai``; ``--model`` alone picks it."""',
        'def f():\n    """``/ask --model``."""\n    return 1',
        "x = 1  # /byok add in a comment",
        'url = "sqlite+aiosqlite:///byok.db"',
        'path = "/api/byok/providers"',
        'name = "byok-bot state listener"',
        'hint = "run `byok-bot db upgrade`"',  # the operator's command line
        'what = "the token limit asked for"',
    ],
)
def test_the_scan_passes_docstrings_comments_and_other_text(source: str) -> None:
    assert not command_syntax_in(source)
