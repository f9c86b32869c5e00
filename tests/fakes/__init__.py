"""Loopback fakes of external services, speaking their real wire protocols.

- :mod:`tests.fakes.loopback` — the generic server (port 0, recording, faults), for any
  service: LLM providers here, Slack and Discord later.
- :mod:`tests.fakes.llm_script` — keys, models and scripted replies shared by LLM fakes.
- ``fake_openai``, ``fake_anthropic``, ``fake_gemini``, ``fake_xai``, ``fake_openrouter`` —
  one module per provider wire.
- :mod:`tests.fakes.plugin` — pytest fixtures (``fake_providers`` and one per fake).
"""

from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openrouter import FakeOpenRouter
from tests.fakes.fake_xai import FakeXAI
from tests.fakes.llm_script import FakeLLM, KeyState, Reply
from tests.fakes.loopback import Fault, LoopbackServer, RecordedRequest

__all__ = [
    "FakeAnthropic",
    "FakeGemini",
    "FakeLLM",
    "FakeOpenAI",
    "FakeOpenRouter",
    "FakeXAI",
    "Fault",
    "KeyState",
    "LoopbackServer",
    "RecordedRequest",
    "Reply",
]
