"""A question answered from the response cache is counted by the Prometheus metrics.

Through the real dispatcher and engine (fake providers): the hit is a request of outcome
``cached`` (no tokens, no cost, not a fallback), and what it saved is counted apart,
an unknown saving as a count of its own, never as $0.
"""

from __future__ import annotations

from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from tests.bot.test_metric_labels import _chat
from tests.engine.conftest import Rig

MODEL = "gpt-5.6-terra"
UNPRICED = "gpt-99-unreleased"


def samples(rendered: bytes, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(rendered.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def test_a_cache_hit_is_counted_with_its_saving(rig: Rig) -> None:
    chat, metrics = _chat(rig)
    await chat.add_key("openai")
    await chat.say("/byok prefs cache on")
    rig.fakes["openai"].models.append(UNPRICED)
    for _ in range(3):  # one call, then two hits
        await chat.say("/ask --provider openai What is the capital of Australia?")
    for _ in range(2):  # one call of unknown price, then one hit of unknown saving
        await chat.say(f"/ask --provider openai --model {UNPRICED} And of Austria?")
    rendered = metrics.render()

    requests = "byok_provider_requests_total"
    assert samples(rendered, requests, outcome="success") == 2
    assert samples(rendered, requests, provider="openai", model=MODEL, outcome="cached") == 2
    assert samples(rendered, requests, outcome="cached") == 3
    [hit] = [
        s.labels
        for f in text_string_to_metric_families(rendered.decode())
        for s in f.samples
        if s.name == requests and s.labels["outcome"] == "cached" and s.labels["model"] == MODEL
    ]
    assert hit["error_kind"] == "" and hit["key_source"] == "user" and hit["kind"] == "ask"
    latency = "byok_provider_latency_seconds_count"
    assert samples(rendered, latency, outcome="cached") == 3

    rows = await rig.usage_rows()
    [first] = [r for r in rows if r["outcome"] == "success" and r["model"] == MODEL]
    assert first["cost"] > 0
    saved = samples(rendered, "byok_cache_saved_usd_total", provider="openai", model=MODEL)
    assert abs(Decimal(str(saved)) - 2 * first["cost"]) < Decimal("1e-12")
    assert samples(rendered, "byok_cache_saved_unknown_total") == 1
    # Only the provider's answers cost money and tokens; no hit is a fallback or unpriced.
    cost = samples(rendered, "byok_cost_usd_total", model=MODEL)
    assert abs(Decimal(str(cost)) - first["cost"]) < Decimal("1e-12")
    tokens = samples(rendered, "byok_tokens_total", model=MODEL, direction="input")
    assert tokens == first["input_tokens"]
    assert samples(rendered, "byok_unpriced_requests_total") == 1  # the call, not the hit
    assert samples(rendered, "byok_fallbacks_total") == 0
    assert [r["outcome"] for r in rows].count("cached") == 3
