"""The console as a user drives it: `byok-bot console` with commands piped on stdin."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path

import pytest

from tests.fakes.plugin import FakeProviders

pytestmark = pytest.mark.slow  # it runs the bot as a process (tests/processes.py)

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "transcripts"


def write_config(tmp_path: Path, fakes: FakeProviders) -> Path:
    lines = ["[database]", f'url = "sqlite+aiosqlite:///{tmp_path}/byok.db"', ""]
    for provider_id in fakes:
        settings = fakes.settings(provider_id)
        lines += [
            f"[providers.{provider_id}]",
            f'base_url = "{settings.base_url}"',
            "max_retries = 0",
            "timeout_s = 5",
            "",
        ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines))
    return path


async def console(
    tmp_path: Path, config: Path, script: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[str, str, int]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BYOK_", "OPENAI_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "--config", str(config), "console", *extra,
        cwd=tmp_path,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(script.encode()), timeout=120)
    return out.decode(), err.decode(), process.returncode or 0


async def test_a_whole_session_piped_on_stdin(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    master = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    key = fake_providers.key("openai")
    fake_providers["openai"].reply(
        text="Paris is the capital of France.", input_tokens=14, output_tokens=7
    )
    fake_providers["openai"].reply(
        text=json.dumps({
            "overview": "Pricing sync for the Team plan.",
            "decisions": ["Team plan costs $19 a seat"],
            "action_items": [{"task": "Update the copy", "owner": "Priya Raman", "due": "Friday"}],
            "open_questions": [],
        })
    )  # fmt: skip
    script = "\n".join([
        "# a comment, then the commands",
        "/byok add openai",
        key,
        "/byok list",
        "What is the capital of France?",
        f"/summarize --file {FIXTURES / 'zoom_pricing_sync.vtt'}",
        "/usage",
        "/byok prefs history on",
        "/quit",
        "/help",  # after /quit: never run
    ])  # fmt: skip
    out, err, code = await console(tmp_path, config, script + "\n", "--user", "alice", env=master)
    assert code == 0, err
    assert "✓ Key added" in out and f"…{key[-4:]}" in out
    assert "Paris is the capital of France." in out
    assert "— OpenAI · gpt-5.6-terra · 14 in / 7 out tokens · $0.0001" in out
    assert "Meeting summary" in out and "Update the copy — Priya Raman, due Friday" in out
    assert "Your usage" in out and "2 requests" in out
    assert "`history` is now on" in out
    assert "byok-bot — bring your own keys" not in out  # /help after /quit did not run
    assert "Reading" in err  # progress goes to stderr when piped
    for text in (out, err):
        assert key not in text and master["BYOK_ENCRYPTION_KEY"] not in text
    assert key.encode() not in (tmp_path / "byok.db").read_bytes()


async def test_mistakes_in_a_script_do_not_stop_it(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    script = "/ask --provder openai hi\n/summarize --file missing.vtt\n/usage weak\n/byok list\n"
    out, err, code = await console(
        tmp_path, config, script, env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    )
    assert code == 0, err
    assert "Did you mean `--provider`?" in out
    assert "✗ No such file: missing.vtt" in out
    assert "Did you mean `week`?" in out
    assert "You have no keys yet" in out


async def test_a_script_that_ends_where_the_key_should_be(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    out, err, code = await console(
        tmp_path, config, "/byok add openai\n", env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    )
    assert code == 0, err
    assert "✗ No key followed `/byok add openai`: put the key on the next line." in out
    assert "Nothing was stored." in out and "Traceback" not in err


async def test_only_summarize_takes_a_file(tmp_path: Path, fake_providers: FakeProviders) -> None:
    config = write_config(tmp_path, fake_providers)
    openai = fake_providers["openai"]
    script = "\n".join([
        "/byok add openai",
        fake_providers.key("openai"),
        "/ask explain the curl --file option",
        "what does tar --file mean",
        "/ask --file notes.txt hi",
    ])  # fmt: skip
    out, err, code = await console(
        tmp_path, config, script + "\n", env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    )
    assert code == 0, err
    assert "No such file" not in out
    asked = [r.json()["messages"][-1]["content"] for r in openai.requests if r.method == "POST"]
    assert asked == ["explain the curl --file option", "what does tar --file mean"]
    assert "✗ Unknown option `--file`." in out  # /ask's own flag parser, in flag position


async def test_summarize_file_mistakes_are_explained(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    script = f"/summarize --file\n/summarize --file {tmp_path}\n/summarise --file gone.vtt\n"
    out, err, code = await console(
        tmp_path, config, script, env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    )
    assert code == 0, err
    assert "✗ `--file` needs a path: /summarize --file meeting.vtt" in out
    assert f"✗ {tmp_path} is a folder, not a file" in out
    assert "✗ No such file: gone.vtt" in out
    assert "Unknown option" not in out


async def test_development_mode_warns_about_the_local_key_file(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    _out, err, code = await console(tmp_path, config, "/byok list\n")
    assert code == 0
    assert "NO MASTER KEY CONFIGURED" in err
    assert (tmp_path / ".byok" / "master.key").stat().st_mode & 0o777 == 0o600


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 60) -> None:
    import select
    import time

    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {marker!r}; got {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen.extend(chunk)


def _interactive_session(cwd: Path, config: Path, key: str, master: str) -> bytes:
    """At a real terminal (a pty): prompt, hidden key entry, streamed answer."""
    import pty
    import subprocess

    primary, secondary = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith("BYOK_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "--config", str(config), "console", "--user", "bo"],
        cwd=cwd, stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
        env={**base, "PYTHONPATH": str(ROOT), "BYOK_ENCRYPTION_KEY": master, "TERM": "dumb"},
    )  # fmt: skip
    os.close(secondary)
    seen = bytearray()
    try:
        _read_until(primary, b"you> ", seen)
        os.write(primary, b"/byok add anthropic\n")
        _read_until(primary, b"(input hidden): ", seen)
        os.write(primary, key.encode() + b"\n")
        _read_until(primary, b"Key added", seen)
        _read_until(primary, b"you> ", seen)
        os.write(primary, b"Say hello\n")
        _read_until(primary, b"tokens", seen)
        os.write(primary, b"/quit\n")
        process.wait(timeout=30)
    finally:
        process.kill()
        os.close(primary)
    return bytes(seen)


async def test_at_a_terminal_the_key_prompt_is_hidden(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    key = fake_providers.key("anthropic")
    fake_providers["anthropic"].reply(text="Hello there, friend.")
    seen = await asyncio.to_thread(
        _interactive_session, tmp_path, config, key, secrets.token_hex(32)
    )
    assert b"byok-bot console" in seen
    assert key.encode() not in seen  # not echoed while typed, not shown after
    assert b"Hello there, friend." in seen and b"Anthropic \xc2\xb7 claude-sonnet-4-6" in seen
