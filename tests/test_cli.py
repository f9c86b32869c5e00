"""The `byok-bot` command as an operator runs it: a real process in a fresh folder."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # it runs the bot as a process (tests/processes.py)

BYOK_BOT = [sys.executable, "-m", "adapters.cli"]
ROOT = Path(__file__).resolve().parent.parent


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``byok-bot ARGS`` in ``cwd``, with nothing on stdin."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("BYOK_", "SLACK_", "DISCORD_"))
    }
    base.pop("DATABASE_URL", None)
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [*BYOK_BOT, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_database_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    port, password = _closed_port(), "pw-" + secrets.token_hex(8)
    env = {"DATABASE_URL": f"postgresql+asyncpg://byok:{password}@127.0.0.1:{port}/db"}
    said = (
        f"cannot reach the database at [database] url (postgresql+asyncpg://byok:***@127.0.0.1:"
        f"{port}/db): connection refused — is the server running?"
    )
    for command in (("db", "current"), ("console",), ("digest", "--dry-run"), ("run",)):
        result = run(tmp_path, *command, env=env)
        assert result.returncode == 1, (command, result.stderr)
        assert said in result.stderr.splitlines()[-1], (command, result.stderr)
        output = result.stdout + result.stderr
        assert "Traceback" not in output and password not in output


def test_a_sqlite_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    result = run(
        tmp_path, "db", "upgrade", env={"DATABASE_URL": "sqlite+aiosqlite:///data/byok.db"}
    )
    assert result.returncode == 1
    assert result.stderr == (
        "byok-bot: cannot open the database at [database] url (sqlite+aiosqlite:///data/byok.db): "
        "cannot create its folder data (File exists)\n"
    )


def test_a_locked_sqlite_database_says_so(tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "byok.db", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process is writing, for longer than we wait
        other.execute("CREATE TABLE busy (x)")
        result = run(tmp_path, "db", "upgrade")
    finally:
        other.close()
    assert result.returncode == 1
    assert result.stderr == (
        "byok-bot: cannot use the database at [database] url (sqlite+aiosqlite:///byok.db): "
        "database is locked: another process is writing to it\n"
    )


def test_db_upgrade_creates_the_sqlite_file(tmp_path: Path) -> None:
    first = run(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty to" in first.stdout
    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "byok.db").execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert {"users", "user_api_keys", "user_ai_preferences", "usage_events"} <= tables
    second = run(tmp_path, "db", "upgrade")
    assert "is up to date" in second.stdout
    assert run(tmp_path, "db", "current").returncode == 0


def test_config_errors_exit_2_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[discord]\nenabled = true\n")
    result = run(tmp_path, "--config", "bad.toml", "db", "upgrade")
    assert result.returncode == 2
    assert "[discord] is enabled but token is missing (set DISCORD_TOKEN)" in result.stderr


def test_config_is_accepted_before_or_after_the_command(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///other.db"\n')
    for args in (
        ("db", "upgrade", "--config", "other.toml"),
        ("--config", "other.toml", "db", "current"),
        ("db", "current", "--config=other.toml"),
    ):
        result = run(tmp_path, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert (tmp_path / "other.db").exists()
    assert not (tmp_path / "byok.db").exists()
    for command in (("run",), ("digest", "--dry-run"), ("console",), ("keys", "rotate")):
        result = run(tmp_path, *command, "--config", "missing.toml")
        assert result.returncode == 2, command
        assert "config file missing.toml does not exist" in result.stderr, command


def test_production_mode_refuses_to_run_without_master_key(tmp_path: Path) -> None:
    result = run(tmp_path, "keys", "rotate", env={"BYOK_MODE": "production"})
    assert result.returncode == 2
    assert "production mode needs a master key" in result.stderr
    assert not (tmp_path / ".byok").exists()


def test_rotate_from_dev_key_file_to_configured_key(tmp_path: Path) -> None:
    """Keys stored under the development key file move to a configured master key."""
    assert run(tmp_path, "db", "upgrade").returncode == 0
    canary = "sk-canary-" + secrets.token_hex(20)
    store = (
        "import asyncio\n"
        "from bot.config import load_config\nfrom bot.master_key import build_keyring\n"
        "from byok.db import Database\nfrom byok.keystore import KeyStore\n"
        "from byok.secret import Secret\nfrom byok.types import UserRef\n"
        "async def main(action, key):\n"
        "    config, _ = load_config()\n"
        "    db = Database(config.database.url)\n"
        "    store = KeyStore(db, build_keyring(config).keyring)\n"
        "    ref = UserRef('console', 'local', 'me')\n"
        "    if action == 'put':\n"
        "        await store.put(ref, 'openai', Secret(key))\n"
        "    else:\n"
        "        print((await store.secret(ref, 'openai')).reveal() == key)\n"
        "    await db.dispose()\n"
        "import sys; asyncio.run(main(sys.argv[1], sys.argv[2]))\n"
    )
    (tmp_path / "store.py").write_text(store)

    def py(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        base = dict(os.environ, PYTHONPATH=str(ROOT))
        return subprocess.run(
            [sys.executable, "store.py", *args],
            cwd=tmp_path,
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )

    assert py("put", canary).returncode == 0
    assert (tmp_path / ".byok" / "master.key").stat().st_mode & 0o777 == 0o600
    new_key = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    rotated = run(tmp_path, "keys", "rotate", env=new_key)
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 1 key(s)" in rotated.stdout
    os.rename(tmp_path / ".byok" / "master.key", tmp_path / "old.key")
    readable = py("get", canary, env=new_key)
    assert readable.stdout.strip() == "True", readable.stderr
    for output in (rotated.stdout, rotated.stderr, readable.stdout, readable.stderr):
        assert canary not in output and new_key["BYOK_ENCRYPTION_KEY"] not in output
    assert canary.encode() not in (tmp_path / "byok.db").read_bytes()


def test_rotate_without_the_old_key_says_what_to_set(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    old = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    code = (
        "import asyncio\nfrom byok.db import Database\nfrom byok.keystore import KeyStore\n"
        "from byok.secret import Secret\nfrom byok.types import UserRef\n"
        "from byok.vault import Keyring, parse_raw_key\nimport os\n"
        "async def main():\n"
        "    db = Database('sqlite+aiosqlite:///byok.db')\n"
        "    ring = Keyring(parse_raw_key(os.environ['BYOK_ENCRYPTION_KEY']))\n"
        "    ref = UserRef('slack', 'T', 'U')\n"
        "    await KeyStore(db, ring).put(ref, 'xai', Secret('xai-k-123456'))\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **old),
    )
    result = run(tmp_path, "keys", "rotate", env={"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)})
    assert result.returncode == 1
    assert "1 key(s) could not be re-encrypted" in result.stdout
    assert "BYOK_PREVIOUS_ENCRYPTION_KEY" in result.stdout


def test_a_config_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b"[bot]\nmode = 'development'\n# caf\xe9\n")
    for command in (("run",), ("console",)):
        result = run(tmp_path, "--config", str(config), *command)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.splitlines() == [
            f"byok-bot: {config} is not UTF-8 text (byte 0xe9 on line 3): save it as UTF-8"
        ], command
        assert "Traceback" not in result.stdout + result.stderr


def test_a_malformed_database_url_names_the_setting_without_its_password(
    tmp_path: Path,
) -> None:
    password = "pw-" + secrets.token_hex(8)
    config = tmp_path / "config.toml"
    for url in (f"postgresql+asyncpg://byok:{password}@db:notaport/byok", "not a url"):
        config.write_text(f"[database]\nurl = '{url}'\n")
        for command in (("run",), ("console",)):
            result = run(tmp_path, "--config", str(config), *command)
            assert result.returncode == 2, (command, result.stderr)
            assert result.stderr.splitlines() == [
                f"byok-bot: invalid configuration in {config}:",
                "  [database] url: this is not a database URL: write "
                "sqlite+aiosqlite:///path/to/byok.db or "
                "postgresql+asyncpg://user:password@host:5432/dbname",
            ], (url, command)
            assert "Traceback" not in result.stdout + result.stderr
            assert password not in result.stdout + result.stderr


def test_rotate_deletes_cached_answers_sealed_under_the_old_key(tmp_path: Path) -> None:
    """A cached answer sealed under the old master key can no longer be found (its name is
    an HMAC under the current key), yet the old key still opens it: rotating, which is
    done when the old key may be out, deletes such answers rather than leave them."""
    assert run(tmp_path, "db", "upgrade").returncode == 0
    canary = "ANSWER-" + secrets.token_hex(12)
    code = (
        "import asyncio, sys\nfrom datetime import UTC, datetime\n"
        "from bot.config import load_config\nfrom bot.master_key import build_keyring\n"
        "from byok.db import Database\nfrom byok.preferences import PreferenceStore\n"
        "from byok.response_cache import CacheSettings, CachedAnswer, ResponseCache\n"
        "from byok.types import UserRef, Usage\nfrom byok.users import user_id_or_create\n"
        "async def main():\n"
        "    config, _ = load_config()\n"
        "    db = Database(config.database.url)\n"
        "    now = datetime.now(UTC)\n"
        "    cache = ResponseCache(db, build_keyring(config).keyring, lambda: now, CacheSettings())\n"
        "    ref = UserRef('console', 'local', 'me')\n"
        "    async with db.session() as session:\n"
        "        user = await user_id_or_create(session, ref, now)\n"
        "    await PreferenceStore(db).update(ref, cache_answers=True)\n"
        "    answer = CachedAnswer(sys.argv[1], 'openai', 'gpt', Usage(), None, 'stop', now)\n"
        "    assert await cache.put(ref, user, 'h' * 64, answer, 3600)\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
    )
    kept = subprocess.run(
        [sys.executable, "-c", code, canary],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert kept.returncode == 0, kept.stderr
    with sqlite3.connect(tmp_path / "byok.db") as db:
        assert db.execute("SELECT count(*) FROM response_cache").fetchone() == (1,)
    new_key = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    rotated = run(tmp_path, "keys", "rotate", env=new_key)
    assert rotated.returncode == 0, rotated.stderr
    assert "Deleted 1 cached answer(s) sealed under an earlier master key" in rotated.stdout
    with sqlite3.connect(tmp_path / "byok.db") as db:
        assert db.execute("SELECT count(*) FROM response_cache").fetchone() == (0,)
    assert "Traceback" not in rotated.stderr and canary not in rotated.stdout + rotated.stderr
