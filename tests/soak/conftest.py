"""Soak fixtures: the fake providers able to end a stalled answer when the client leaves,
and the ops tests' deployment of the real ``byok-bot run`` process (crash and restart)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.engine.conftest import make_rig  # noqa: F401 - fixture
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openrouter import FakeOpenRouter
from tests.fakes.fake_xai import FakeXAI
from tests.fakes.llm_script import FakeLLM
from tests.fakes.plugin import FakeProviders
from tests.ops.conftest import deployment, fake_discord, fake_slack  # noqa: F401 - fixtures


@pytest.fixture
async def fake_providers() -> AsyncIterator[FakeProviders]:
    """All five fakes; a stalled answer ends when the client times out (no pile-up)."""
    fakes: list[FakeLLM] = [
        FakeOpenAI(),
        FakeAnthropic(),
        FakeGemini(),
        FakeXAI(),
        FakeOpenRouter(),
    ]
    for fake in fakes:
        fake.handler_cancellation = True
        await fake.start()
    try:
        yield FakeProviders(fakes)
    finally:
        for fake in fakes:
            await fake.stop()
