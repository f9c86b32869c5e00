"""The console at a real terminal (a pty): Ctrl-C and Ctrl-D as a user presses them."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import secrets
import select
import signal
import sqlite3
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bot.test_console import ROOT, write_config
from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import Fault
from tests.fakes.plugin import FakeProviders

pytestmark = pytest.mark.slow  # it runs the bot as a process (tests/processes.py)

CTRL_C, CTRL_D = b"\x03", b"\x04"
CURSOR_POSITION_REQUEST = b"\x1b[6n"


def _take_terminal() -> None:
    """Make the pty the console's controlling terminal, so Ctrl-C on it sends SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`byok-bot console` with a pty as its controlling terminal: type, and read the screen."""

    def __init__(
        self, cwd: Path, config: Path, *, term: str = "dumb", master_key: str | None = None
    ) -> None:
        self._fd, secondary = pty.openpty()
        base = {k: v for k, v in os.environ.items() if not k.startswith("BYOK_")}
        env = {**base, "PYTHONPATH": str(ROOT), "TERM": term}
        env["XDG_DATA_HOME"] = str(cwd / "data")  # the console's history lives there
        env["BYOK_ENCRYPTION_KEY"] = master_key or secrets.token_hex(32)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "--config", str(config), "console"],
            cwd=cwd, stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
            # One ioctl of an imported module: no lock another thread could hold.
            start_new_session=True, preexec_fn=_take_terminal, env=env,  # noqa: PLW1509
        )  # fmt: skip
        os.close(secondary)
        self.screen = bytearray()
        self._seen = 0

    def type(self, keys: bytes) -> None:
        os.write(self._fd, keys)

    def expect(self, marker: bytes, timeout: float = 60) -> None:
        """Wait until ``marker`` appears after what the last expect matched."""
        deadline = time.monotonic() + timeout
        while (at := self.screen.find(marker, self._seen)) < 0:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out waiting for {marker!r}; got {bytes(self.screen)!r}"
            if not self._read(remaining):
                raise AssertionError(f"the console ended before {marker!r}: {self.screen!r}")
        self._seen = at + len(marker)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:  # EIO: the console closed the terminal
                return False
            if not chunk:
                return False
            if CURSOR_POSITION_REQUEST in chunk:  # answered as a terminal would
                os.write(self._fd, b"\x1b[1;1R")
            self.screen.extend(chunk)
        return True

    def finish(self, timeout: float = 30) -> int:
        """The exit code, once the console has ended (reading what it still prints)."""
        deadline = time.monotonic() + timeout
        while self._read(max(deadline - time.monotonic(), 0.01)) and time.monotonic() < deadline:
            pass
        return self.process.wait(timeout=5)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._fd)


async def at_terminal(
    cwd: Path, config: Path, session: Callable[[Terminal], None], **options: str
) -> Terminal:
    """Run ``session`` against a fresh console (in a thread: the fakes share this loop)."""

    def run() -> Terminal:
        terminal = Terminal(cwd, config, **options)
        try:
            session(terminal)
        finally:
            terminal.close()
        return terminal

    return await asyncio.to_thread(run)


def outcomes(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "byok.db") as db:
        return [row[0] for row in db.execute("SELECT outcome FROM usage_events ORDER BY id")]


def _a_story_that_never_ends(fake_providers: FakeProviders) -> FakeLLM:
    anthropic = fake_providers["anthropic"]
    anthropic.reply(text="Once upon a time, and it never ends.")
    anthropic.inject(Fault.stall(after=anthropic.events_before_text + 1), path="messages")
    return anthropic


def _add_a_key_and_start_a_story(terminal: Terminal, key: str) -> None:
    terminal.expect(b"you> ")
    terminal.type(b"/byok add anthropic\n")
    terminal.expect(b"(input hidden): ")
    terminal.type(key.encode() + b"\n")
    terminal.expect(b"Key added")
    terminal.type(b"Tell me a story\n")
    terminal.expect(b"Once")


async def test_ctrl_c_cancels_the_answer_not_the_console(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    anthropic = _a_story_that_never_ends(fake_providers)
    anthropic.reply(text="Second answer.")
    key = fake_providers.key("anthropic")
    codes: list[int] = []

    def session(terminal: Terminal) -> None:
        _add_a_key_and_start_a_story(terminal, key)
        terminal.type(CTRL_C)
        terminal.expect(b"(cancelled)")
        terminal.expect(b"you> ")
        terminal.type(b"Something shorter\n")
        terminal.expect(b"Second answer.")
        terminal.expect(b"you> ")
        terminal.type(b"/quit\n")
        codes.append(terminal.finish())

    terminal = await at_terminal(tmp_path, config, session)
    assert codes == [0], terminal.screen
    assert b"Traceback" not in terminal.screen and b"interrupted" not in terminal.screen
    # One row per request: the cancelled one went through the engine's cancel path.
    assert outcomes(tmp_path) == ["cancelled", "success"]


async def test_ctrl_c_or_ctrl_d_at_the_key_prompt_cancels_the_add(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    codes: list[int] = []

    def session(terminal: Terminal) -> None:
        for key in (CTRL_C, CTRL_D):
            terminal.expect(b"you> ")
            terminal.type(b"/byok add openai\n")
            terminal.expect(b"(input hidden): ")
            terminal.type(key)
            terminal.expect(b"Cancelled; nothing was stored.")
        terminal.expect(b"you> ")
        terminal.type(b"/byok list\n")
        terminal.expect(b"/byok list")  # echoed again: the hidden prompt restored the terminal
        terminal.expect(b"You have no keys yet")
        terminal.type(b"/quit\n")
        codes.append(terminal.finish())

    terminal = await at_terminal(tmp_path, config, session)
    assert codes == [0], terminal.screen
    assert b"Traceback" not in terminal.screen


async def test_ctrl_c_at_the_prompt_leaves(tmp_path: Path, fake_providers: FakeProviders) -> None:
    config = write_config(tmp_path, fake_providers)
    codes: list[int] = []

    def session(terminal: Terminal) -> None:
        terminal.expect(b"you> ")
        terminal.type(CTRL_C)
        codes.append(terminal.finish())

    terminal = await at_terminal(tmp_path, config, session)
    assert codes == [130], terminal.screen
    assert b"byok-bot: interrupted" in terminal.screen and b"Traceback" not in terminal.screen


async def test_sigterm_mid_answer_records_it_and_closes_cleanly(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    _a_story_that_never_ends(fake_providers)
    key = fake_providers.key("anthropic")
    codes: list[int] = []

    def session(terminal: Terminal) -> None:
        _add_a_key_and_start_a_story(terminal, key)
        terminal.process.send_signal(signal.SIGTERM)  # e.g. the terminal window closed
        codes.append(terminal.finish())

    terminal = await at_terminal(tmp_path, config, session)
    assert codes == [130], terminal.screen
    assert b"(cancelled)" in terminal.screen and b"Traceback" not in terminal.screen
    # The answer cut off by SIGTERM still has its usage row (no limit: it was queued
    # in memory, and written as the console closed the database).
    assert outcomes(tmp_path) == ["cancelled"]
