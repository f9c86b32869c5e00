"""The tiers hold: process tests are marked slow, and an unmarked one cannot start one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SLOW_FIXTURES, SLOW_FOLDERS
from tests.processes import UnmarkedProcessError

TESTS = Path(__file__).parent


def test_a_test_not_marked_slow_cannot_start_a_process() -> None:
    with pytest.raises(UnmarkedProcessError, match=r"python.*not marked slow"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    with pytest.raises(UnmarkedProcessError):
        subprocess.Popen(["true"])
    with pytest.raises(UnmarkedProcessError):
        os.system("true")
    with pytest.raises(UnmarkedProcessError):
        os.fork()


async def test_nor_through_asyncio() -> None:
    with pytest.raises(UnmarkedProcessError):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


def test_a_system_probe_a_library_runs_by_itself_is_let_through() -> None:
    """matplotlib's fc-list, run in the first test to draw a chart on a fresh machine."""
    with contextlib.suppress(OSError):  # no fontconfig here
        subprocess.run(["fc-list", "--help"], capture_output=True, check=False)


@pytest.mark.slow
def test_a_test_marked_slow_may() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_the_collected_tests_are_marked_by_place_and_by_fixture(
    request: pytest.FixtureRequest,
) -> None:
    """Over whatever this run collected: the whole suite in CI."""
    for item in request.session.items:
        marks = {mark.name for mark in item.iter_markers()}
        folder = item.path.relative_to(TESTS).parts[0]
        fixtures = set(getattr(item, "fixturenames", ()))
        if folder in SLOW_FOLDERS or fixtures & SLOW_FIXTURES:
            assert "slow" in marks, item.nodeid
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if "postgres_server" in fixtures or "postgresql" in params.values():
            assert "postgres" in marks, item.nodeid
