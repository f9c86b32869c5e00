"""kill -9 mid-answer: the attempt's usage row is already in the database, and the next
start closes it as interrupted. An attempt with no limit used to be written only when it
ended, so a killed process left no trace of a call the provider may have billed."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from tests.bot.test_console import console, write_config
from tests.bot.test_console_terminal import (
    Terminal,
    _a_story_that_never_ends,
    _add_a_key_and_start_a_story,
    at_terminal,
)
from tests.fakes.plugin import FakeProviders

pytestmark = pytest.mark.slow  # it runs the bot as a process (tests/processes.py)


def _usage(tmp_path: Path) -> list[tuple[str, str | None, str | None]]:
    with sqlite3.connect(tmp_path / "byok.db") as db:
        return list(db.execute("SELECT outcome, error_kind, finished_at FROM usage_events"))


async def test_kill_9_mid_answer_leaves_a_pending_row_that_the_next_start_closes(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    _a_story_that_never_ends(fake_providers)  # the key has no limit
    key = fake_providers.key("anthropic")

    def session(terminal: Terminal) -> None:
        _add_a_key_and_start_a_story(terminal, key)  # the answer is being shown
        terminal.process.send_signal(signal.SIGKILL)
        assert terminal.process.wait(timeout=10) == -signal.SIGKILL

    await at_terminal(tmp_path, config, session)
    assert _usage(tmp_path) == [("pending", None, None)]

    # An hour later (no live request is that old), any command that opens the bot closes it.
    with sqlite3.connect(tmp_path / "byok.db") as db:
        db.execute("UPDATE usage_events SET created_at = datetime(created_at, '-2 hours')")
    _out, err, code = await console(tmp_path, config, "/quit\n")
    assert code == 0, err
    assert "closed 1 usage row(s) left pending by a process that stopped mid-request" in err
    [(outcome, error_kind, finished_at)] = _usage(tmp_path)
    assert (outcome, error_kind) == ("cancelled", "interrupted") and finished_at is not None
