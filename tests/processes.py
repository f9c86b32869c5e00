"""Only tests marked ``slow`` may start processes, so the quick tier (``--quick``) never does.

A test is marked slow when it lives under ``tests/ops/`` or ``tests/soak/`` or uses a
fixture that runs the bot as a process (tests/conftest.py marks those at collection), or
by hand (``@pytest.mark.slow``). Any other test that starts a process — ``subprocess``,
asyncio's subprocesses, ``os.fork``, ``os.system``, ``multiprocessing`` — fails on the
spot with :class:`UnmarkedProcessError`, in the full suite as in the quick tier, so a
process test cannot slip into the quick tier unmarked.

A session-scoped fixture that starts processes (the throwaway PostgreSQL servers) does so
inside :func:`infrastructure`, both when it starts them and when it stops them: it is set
up by whichever test needs it first and torn down after whichever test runs last. And a
library probing the system by itself (:data:`SYSTEM_PROBES`) is let through.
"""

from __future__ import annotations

import _posixsubprocess
import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["UnmarkedProcessError", "guard_processes", "infrastructure", "permitted"]

_state = {"permitted": True, "infrastructure": 0}

#: Commands a library runs by itself, once per process, to learn about the system:
#: matplotlib lists the fonts with fc-list when it builds its font cache (a fresh machine
#: builds it in the first test to draw a chart).
SYSTEM_PROBES = frozenset({"fc-list"})


class UnmarkedProcessError(RuntimeError):
    pass


@contextlib.contextmanager
def permitted(allowed: bool) -> Iterator[None]:
    """Whether the test running inside the block may start processes (it is marked slow)."""
    before = _state["permitted"]
    _state["permitted"] = allowed
    try:
        yield
    finally:
        _state["permitted"] = before


@contextlib.contextmanager
def infrastructure() -> Iterator[None]:
    """Processes started inside the block serve the session, not the test: always allowed."""
    _state["infrastructure"] += 1
    try:
        yield
    finally:
        _state["infrastructure"] -= 1


def _check(what: object) -> None:
    if _state["permitted"] or _state["infrastructure"] or _is_probe(what):
        return
    command = repr(what)
    if len(command) > 160:
        command = command[:160] + "…"
    raise UnmarkedProcessError(
        f"this test starts a process ({command}) but is not marked slow: mark it "
        "@pytest.mark.slow (or move it under tests/ops/), so that the quick tier "
        "(--quick, docs/testing.md) leaves it out"
    )


def _is_probe(what: object) -> bool:
    argv = [what] if isinstance(what, str | bytes | os.PathLike) else what
    if not isinstance(argv, list | tuple) or not argv:
        return False
    return os.path.basename(os.fsdecode(argv[0])) in SYSTEM_PROBES


def _guarded(original: Callable[..., Any], name: str) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check(args[0] if args else name)
        return original(*args, **kwargs)

    return guarded


def _guarded_method(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(self: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
        _check(args)
        return original(self, args, *rest, **kwargs)

    return guarded


def guard_processes() -> None:
    """Install the guard for the rest of the session (from pytest_configure)."""
    popen: Any = subprocess.Popen
    popen._execute_child = _guarded_method(popen._execute_child)  # subprocess and asyncio
    posix: Any = _posixsubprocess
    posix.fork_exec = _guarded(posix.fork_exec, "multiprocessing")
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        original = getattr(os, name, None)
        if original is not None:
            setattr(os, name, _guarded(original, f"os.{name}"))
