"""``/summarize --file`` in the real console: only a regular file, and no more than the limit.

Each mistake gets one line naming it and the console goes on to the next command: a pipe,
a device, a socket, a folder, a file over the transcript size limit, a path too long for
the file system, a home folder of nobody.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import pytest

from tests.bot.test_console import console, write_config
from tests.fakes.plugin import FakeProviders

pytestmark = pytest.mark.slow  # it runs the bot as a process (tests/processes.py)

MAX_CHARS = 1000  # the smallest [limits] max_transcript_chars
MAX_BYTES = 4 * MAX_CHARS


def _config(tmp_path: Path, fakes: FakeProviders) -> Path:
    path = write_config(tmp_path, fakes)
    path.write_text(path.read_text() + f"\n[limits]\nmax_transcript_chars = {MAX_CHARS}\n")
    return path


async def _run(tmp_path: Path, fakes: FakeProviders, *lines: str) -> str:
    script = "\n".join([*lines, "/byok list"]) + "\n"
    env = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    out, err, code = await console(tmp_path, _config(tmp_path, fakes), script, env=env)
    assert code == 0, err
    assert "Traceback" not in err and "Traceback" not in out, err
    assert "You have no keys yet" in out  # the command after the mistakes still ran
    return out


async def test_special_files_are_refused_without_being_read(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    fifo = tmp_path / "meeting.vtt"
    os.mkfifo(fifo)  # nobody writes to it: reading would wait forever
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "meeting.sock"))
    try:
        out = await _run(
            tmp_path,
            fake_providers,
            f"/summarize --file {fifo}",
            "/summarize --file /dev/zero",  # endless: reading it whole grew to 22 GB
            f"/summarize --file {tmp_path / 'meeting.sock'}",
            f"/summarize --file {tmp_path}",
        )
    finally:
        listening.close()
    assert f"✗ {fifo} is a pipe (FIFO), not a regular file" in out
    assert "✗ /dev/zero is a device, not a regular file" in out
    assert f"✗ {tmp_path / 'meeting.sock'} is a socket, not a regular file" in out
    assert f"✗ {tmp_path} is a folder, not a file" in out


async def test_a_file_over_the_size_limit_is_refused_and_one_at_it_is_read(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    (tmp_path / "long.txt").write_bytes(b"Ana: hello\n" * (MAX_BYTES // 11 + 1))
    (tmp_path / "sparse.txt").touch()
    os.truncate(tmp_path / "sparse.txt", 10**12)  # a terabyte that takes no disk
    fits = b"Ana: hello\n" * (MAX_BYTES // 11)
    (tmp_path / "fits.txt").write_bytes(fits + b"x" * (MAX_BYTES - len(fits)))
    out = await _run(
        tmp_path,
        fake_providers,
        "/summarize --file long.txt",
        "/summarize --file sparse.txt",
        "/summarize --file fits.txt",
    )
    assert f"✗ `long.txt` is larger than a transcript may be ({MAX_BYTES:,} bytes)." in out
    assert f"✗ `sparse.txt` is larger than a transcript may be ({MAX_BYTES:,} bytes)." in out
    assert "`fits.txt` is larger" not in out
    assert out.count("larger than a transcript may be") == 2


async def test_unreadable_paths_get_one_line_each(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    long_name = "a" * 300 + ".vtt"  # over NAME_MAX (255)
    nobody = "~nosuchuser" + secrets.token_hex(4)
    out = await _run(
        tmp_path,
        fake_providers,
        f"/summarize --file {long_name}",
        f"/summarize --file {nobody}/notes.vtt",
        f"/summarize --file {tmp_path}/missing/notes.vtt",
        f"/summarize --file {tmp_path / 'missing.vtt'}/inside.vtt",
    )
    assert f"✗ Could not read {long_name}: file name too long" in out
    assert f"✗ Could not read {nobody}/notes.vtt: no such user's home folder" in out
    assert f"✗ No such file: {tmp_path}/missing/notes.vtt" in out
    assert f"✗ No such file: {tmp_path / 'missing.vtt'}/inside.vtt" in out
