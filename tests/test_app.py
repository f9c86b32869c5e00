"""Building the bot from its configuration: what it says at start-up."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from bot.app import build_app
from bot.commands.keys import key_section
from bot.config import load_config
from bot.provider_names import ProviderNames
from byok.secret import Secret
from byok.service import BYOKService
from byok.types import UserRef

ALICE = UserRef("console", "local", "alice")


async def test_keys_sealed_under_another_master_key_are_reported_not_silently_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/byok.db"\n')
    first = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    second = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}

    app = await build_app(load_config(config, first)[0])
    try:
        await app.engine.keys.put(ALICE, "openai", Secret("sk-test-" + secrets.token_hex(16)))
    finally:
        await app.aclose()

    with caplog.at_level(logging.WARNING, logger="bot.app"):
        app = await build_app(load_config(config, second)[0])
    try:
        [warning] = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
        assert "1 stored key(s) were encrypted with master key" in warning
        assert "which is not configured" in warning
        assert first["BYOK_ENCRYPTION_KEY"] not in warning
        [status] = await BYOKService(app.engine, ALICE).get_user_api_keys()
        assert not status.readable
        shown = {f.label: f.value for f in key_section(status, ProviderNames()).fields}
        assert shown["Status"].startswith("cannot be read: it was encrypted with a master key")
    finally:
        await app.aclose()

    caplog.clear()
    app = await build_app(load_config(config, first)[0])  # the right key again: all quiet
    try:
        assert not [r for r in caplog.records if r.name == "bot.app"]
        [status] = await BYOKService(app.engine, ALICE).get_user_api_keys()
        assert status.readable
    finally:
        await app.aclose()
