"""`byok-bot digest --dry-run | --send-now` as an operator types them."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.cli import main
from byok.db import Database
from byok.types import Usage, UserRef
from byok.usage import UsageLedger, week_bounds
from byok.users import user_id_or_create
from tests.databases import migrated_sqlite_url
from tests.fakes.fake_discord import FakeDiscord


@pytest.fixture(autouse=True)
def process_logging() -> Iterator[None]:
    """``main()`` sets up logging for a whole process: give pytest's setup back after it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }  # main() quiets chatty libraries (discord, aiohttp, ...): later tests want them back
    hooks = sys.excepthook, threading.excepthook, sys.unraisablehook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
    sys.excepthook, threading.excepthook, sys.unraisablehook = hooks
    logging.captureWarnings(False)


async def seed(url: str) -> None:
    database = Database(url)
    ledger = UsageLedger(database)
    last_week = week_bounds(datetime.now(UTC))[0] - timedelta(days=3)
    async with database.session() as session:
        user_ref = await user_id_or_create(session, UserRef("slack", "T1", "U1"), last_week)
    for _ in range(3):
        ledger.record(
            user_ref=user_ref, request_id=secrets.token_hex(8), provider_id="openai",
            model="gpt-5.6-terra", key_source="user", request_kind="ask", is_fallback=False,
            created_at=last_week, outcome="success", usage=Usage(1000, 200),
            cost=Decimal("0.0044"),
        )  # fmt: skip
    await ledger.flush()
    await database.dispose()


def test_dry_run_shows_the_digest_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BYOK_ENCRYPTION_KEY", secrets.token_hex(32))
    asyncio.run(seed(migrated_sqlite_url(tmp_path / "byok.db")))
    assert main(["digest", "--dry-run", "--charts", str(tmp_path / "charts")]) == 0
    out = capsys.readouterr().out
    assert "slack:T1:U1" in out and "gpt-5.6-terra" in out and "$0.01" in out
    [chart] = (tmp_path / "charts").iterdir()
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert main(["digest", "--dry-run", "--user", "slack:T1:nobody"]) == 0
    assert "never used the bot" in capsys.readouterr().out


def test_send_now_without_a_platform_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BYOK_ENCRYPTION_KEY", secrets.token_hex(32))
    assert main(["digest", "--send-now"]) == 1
    assert "No chat platform is enabled" in capsys.readouterr().out
    assert main(["digest"]) == 2


async def test_send_now_with_a_refused_discord_token_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BYOK_ENCRYPTION_KEY", secrets.token_hex(32))
    async with FakeDiscord(token="fake-" + secrets.token_hex(8)) as discord:
        refused = "wrong-" + secrets.token_hex(8)
        (tmp_path / "byok.toml").write_text(
            f'[discord]\nenabled = true\ntoken = "{refused}"\n'
            f'api_base = "{discord.api_base}"\ngateway_url = "{discord.gateway_url}"\n'
        )
        code = await asyncio.to_thread(main, ["--config", "byok.toml", "digest", "--send-now"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "byok-bot: Discord refused the bot token: check DISCORD_TOKEN / [discord] token" in err
    assert "Traceback" not in err and refused not in err


def test_the_digest_names_providers_as_the_config_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BYOK_ENCRYPTION_KEY", secrets.token_hex(32))
    asyncio.run(seed(migrated_sqlite_url(tmp_path / "byok.db")))
    (tmp_path / "byok.toml").write_text('[providers.openai]\ndisplay_name = "Azure GPT"\n')
    assert main(["--config", "byok.toml", "digest", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Azure GPT" in out
