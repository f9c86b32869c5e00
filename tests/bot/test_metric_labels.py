"""Metric labels take only known values, whatever users type.

1,000 distinct junk commands and 100 junk model names go through the real dispatcher and
engine (fake providers); the exposition keeps a fixed, small set of label values, with
everything unknown counted under ``other``.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.commands.table import COMMANDS_BY_NAME as COMMANDS
from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.metrics import OTHER, Metrics
from tests.bot.conftest import Chat
from tests.engine.conftest import Rig

JUNK_COMMANDS = 1000
JUNK_MODELS = 100


def _chat(rig: Rig) -> tuple[Chat, Metrics]:
    metrics = Metrics()
    metrics.bind_catalog(rig.engine.catalog)
    rig.engine.runner.observer = metrics  # as build_app passes it to the engine
    context = BotContext(rig.engine, max_transcript_chars=20_000)
    return Chat(Dispatcher(context, metrics), rig), metrics


def _labels(metrics: Metrics, name: str, label: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name:
                value = sample.labels[label]
                found[value] = found.get(value, 0) + sample.value
    return found


async def test_junk_commands_share_one_label(rig: Rig) -> None:
    chat, metrics = _chat(rig)
    for i in range(JUNK_COMMANDS):
        said = await chat.say(f"/zz{i}junk and more words {i}")
        assert "Unknown command" in said.text
    await chat.say("/HELP")
    await chat.say("/usage")
    await chat.say("/keys list")  # an alias counts as the command it names

    commands = _labels(metrics, "byok_commands_total", "command")
    assert commands == {OTHER: JUNK_COMMANDS, "help": 1, "usage": 1, "byok": 1}
    assert set(commands) <= {*COMMANDS, OTHER}
    assert len(metrics.render()) < 20_000


async def test_junk_models_and_providers_share_one_label(rig: Rig) -> None:
    chat, metrics = _chat(rig)
    await chat.add_key("openai")
    for i in range(JUNK_MODELS):
        await chat.say(f"/ask --provider openai --model junk-model-{i} hi")
    await chat.say("/ask --provider openai hi")  # the configured default model
    await chat.say("/ask --provider openai --model gpt-4o-mini hi")  # a priced model
    for i in range(20):
        said = await chat.say(f"/ask --provider junk-provider-{i} hi")
        assert said.reply.tone == "error"

    models = _labels(metrics, "byok_provider_requests_total", "model")
    default = rig.engine.catalog.get("openai").default_model
    assert models == {OTHER: JUNK_MODELS, default: 1, "gpt-4o-mini": 1}
    providers = _labels(metrics, "byok_provider_requests_total", "provider")
    assert providers == {"openai": JUNK_MODELS + 2}
    assert set(_labels(metrics, "byok_provider_latency_seconds_count", "model")) == set(models)
    assert len(metrics.render()) < 20_000
