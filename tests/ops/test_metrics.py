"""``/metrics`` after real traffic: every number matches what was sent and what was stored.

Slash commands go through the real process (signed Slack requests), the real engine and
the fake providers; the exposition text is parsed, and the counters are checked against
the traffic and against the usage rows the bot wrote.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from byok.pricing import price_of
from byok.types import Usage
from tests.fakes.loopback import Fault
from tests.ops.conftest import Deployment, slack_user
from tests.ops.harness import WAIT, idle, scrape

OPENAI, ANTHROPIC = "gpt-5.6-terra", "claude-sonnet-4-6"


async def test_metrics_count_requests_tokens_cost_fallbacks_refusals_and_adapter_errors(
    deployment: Deployment,
) -> None:
    config = deployment.write(deployment.settings(discord=True))
    await deployment.seed(
        [
            (slack_user("U111"), "openai", None),
            (slack_user("U111"), "anthropic", None),
            (slack_user("U222"), "openai", None),
            (slack_user("U222"), "anthropic", None),
            (slack_user("U333"), "openai", Decimal("0.001")),  # below one answer's worst case
        ],
        config,
        U222={"default_provider": "openai", "fallback_provider": "anthropic"},
    )
    bot = await deployment.start(config)
    slack = deployment.sender

    # Three answers: two from OpenAI, one from Anthropic.
    for text in ("--provider openai Hi", "--provider openai Again", "--provider anthropic Hi"):
        assert await slack.command(bot, "/ask", text, user="U111") == 200
    await idle(bot, commands=3)
    # OpenAI fails with a 500; auto-switch answers from the fallback, Anthropic.
    deployment.fakes["openai"].inject(Fault.http(500), path="/chat/completions")
    assert await slack.command(bot, "/ask", "Hello", user="U222") == 200
    await idle(bot, commands=4)
    # Refused before any call: the answer's worst case would pass U333's monthly limit.
    assert await slack.command(bot, "/ask", "--provider openai Hi", user="U333") == 200
    await idle(bot, commands=5)
    # Slack refuses one Web API call.
    deployment.slack.fail("chat.postEphemeral", "not_in_channel")
    assert await slack.command(bot, "/help", "", user="U111") == 200
    await idle(bot, commands=6)
    await deployment.slack.wait_for(lambda: deployment.slack.responses, WAIT)  # help arrived
    # Discord refuses one answer (403 Missing Permissions).
    deployment.discord.forbid("/callback")
    help_ = deployment.events.command("help")
    await deployment.discord.dispatch("INTERACTION_CREATE", help_)
    await bot.wait_for("Discord refused an answer")
    metrics = await scrape(bot)

    requests = "byok_provider_requests_total"
    assert metrics.value(requests, provider="openai", model=OPENAI, outcome="success") == 2
    assert metrics.value(requests, provider="openai", model=OPENAI, outcome="error") == 1
    assert metrics.value(requests, provider="anthropic", model=ANTHROPIC, outcome="success") == 2
    assert metrics.value(requests) == 5
    [error] = [s for s in metrics.labels(requests) if s["outcome"] == "error"]
    assert error["error_kind"] == "unavailable"
    assert {s["key_source"] for s in metrics.labels(requests)} == {"user"}

    latency = "byok_provider_latency_seconds_count"
    assert metrics.value(latency, provider="openai", model=OPENAI, outcome="success") == 2
    assert metrics.value(latency, provider="openai", model=OPENAI, outcome="error") == 1
    assert metrics.value(latency, provider="anthropic", model=ANTHROPIC, outcome="success") == 2
    assert metrics.value("byok_provider_latency_seconds_sum") > 0

    # Tokens as the fakes reported them: 11 in and 6 out per answer.
    for provider, model in (("openai", OPENAI), ("anthropic", ANTHROPIC)):
        tokens = "byok_tokens_total"
        assert metrics.value(tokens, provider=provider, model=model, direction="input") == 22
        assert metrics.value(tokens, provider=provider, model=model, direction="output") == 12
        one = price_of(provider, model, Usage(input_tokens=11, output_tokens=6))
        assert one is not None and one > 0
        cost = metrics.value("byok_cost_usd_total", provider=provider, model=model)
        assert abs(cost - float(2 * one)) < 1e-12, (provider, cost, one)

    assert metrics.value("byok_fallbacks_total", provider="anthropic") == 1
    assert metrics.value("byok_fallbacks_total") == 1
    assert metrics.value("byok_refusals_total", provider="openai", reason="spend_limit") == 1
    assert metrics.value("byok_refusals_total") == 1
    errors = "byok_adapter_errors_total"
    assert metrics.value(errors, platform="slack", kind="not_in_channel") == 1
    assert metrics.value(errors, platform="discord", kind="http_403") == 1
    assert metrics.value(errors) == 2
    assert metrics.value("byok_commands_total", platform="slack", command="ask") == 5
    assert metrics.value("byok_commands_total", platform="slack", command="help") == 1
    assert metrics.value("byok_commands_in_flight") == 0
    assert metrics.value("byok_unpriced_requests_total") == 0

    assert await bot.stop() == 0
    # The metrics and the usage rows tell the same story.
    rows = await deployment.usage_rows()
    counted: dict[tuple[str, str, str], int] = defaultdict(int)
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        counted[row["provider"], row["model"], row["outcome"]] += 1
        spent[row["provider"]] += row["cost"] or Decimal(0)
    assert counted == {
        ("openai", OPENAI, "success"): 2,
        ("openai", OPENAI, "error"): 1,
        ("anthropic", ANTHROPIC, "success"): 2,
    }
    for provider, model in (("openai", OPENAI), ("anthropic", ANTHROPIC)):
        cost = metrics.value("byok_cost_usd_total", provider=provider, model=model)
        assert abs(cost - float(spent[provider])) < 1e-12
    assert sum(r["input_tokens"] for r in rows) == 44
    assert sum(r["output_tokens"] for r in rows) == 24


async def test_junk_commands_and_models_from_real_traffic_stay_under_other(
    deployment: Deployment,
) -> None:
    """Text after a Discord mention and --model from Slack: `other`, not new label values."""
    config = deployment.write(deployment.settings(discord=True))
    await deployment.seed([(slack_user("U111"), "openai", None)], config)
    bot = await deployment.start(config)
    junk = 30
    for i in range(junk):
        message = deployment.events.message(f"/zz{i}junk {i}", mention=True)
        await deployment.discord.dispatch("MESSAGE_CREATE", message)
    for i in range(5):
        model = f"--provider openai --model junk-model-{i} Hi"
        assert await deployment.sender.command(bot, "/ask", model, user="U111") == 200
    assert await deployment.sender.command(bot, "/ask", "--provider openai Hi") == 200
    metrics = await idle(bot, commands=junk + 6)
    assert await bot.stop() == 0

    commands = {s["command"] for s in metrics.labels("byok_commands_total")}
    assert commands == {"other", "ask"}
    assert metrics.value("byok_commands_total", platform="discord", command="other") == junk
    models = {s["model"]: s for s in metrics.labels("byok_provider_requests_total")}
    assert set(models) == {"other", OPENAI}
    assert metrics.value("byok_provider_requests_total", model="other", outcome="error") == 5
