"""The response cache at the console: `/ask` twice answers from the cache with its footer,
`--fresh` asks the provider again, and `/usage` says what was saved."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from tests.bot.test_console import console, write_config
from tests.fakes.plugin import FakeProviders

pytestmark = pytest.mark.slow  # each test runs the console as a process


async def test_ask_again_is_cached_and_fresh_asks_the_provider(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    master = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    openai = fake_providers["openai"]
    openai.reply(text="Canberra.", input_tokens=1200, output_tokens=300)
    openai.reply(text="Canberra, still.", input_tokens=1200, output_tokens=300)
    script = "\n".join([
        "/byok add openai",
        fake_providers.key("openai"),
        "/byok prefs cache on",
        "/ask What is the capital of Australia?",
        "/ask What is the capital of Australia?",
        "/ask --fresh What is the capital of Australia?",
        "/usage",
        "/quit",
    ])  # fmt: skip
    out, err, code = await console(tmp_path, config, script + "\n", "--user", "alice", env=master)
    assert code == 0, err
    posts = [r for r in openai.requests if r.method == "POST"]
    assert len(posts) == 2  # the first answer and the --fresh one; the second was cached
    assert out.count("Canberra.") == 2 and "Canberra, still." in out
    cached = re.findall(
        r"OpenAI · \S+ · cached · just now · saved (\S+) · --fresh to ask again", out
    )
    assert len(cached) == 1, out
    assert cached[0].startswith("$0.") and not re.fullmatch(r"\$0\.0+", cached[0])
    assert out.count("1,200 in / 300 out tokens") == 2  # the first answer and the fresh one
    assert "3 questions · 2 attempts" in out and "1 from your cache" in out
    assert f"You saved {cached[0]} by 1 cached answer." in out
