"""The one rule for believing a provider's usage report (byok.plausible), at its edges.

The end-to-end proof, every provider through its SDK to the usage row and ``/usage``, is
tests/bot/test_implausible_usage.py; this file pins the rule itself.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from byok.plausible import MAX_COST_PER_CALL, MAX_TOKENS_PER_CALL, UsageReport
from byok.pricing import price_of
from byok.providers.openai_wire import usage_from_openai
from byok.secret import Secret
from byok.types import Usage
from tests.fakes.llm_script import FakeLLM, Reply
from tests.providers.chat import Subject, ask, call
from tests.providers.conftest import Build


@pytest.mark.parametrize(
    "value",
    [-1, MAX_TOKENS_PER_CALL + 1, 2**31, 2**40, True, 3.0, float("nan"), float("inf"), "12"],
    ids=repr,
)
def test_an_implausible_token_count_makes_the_report_unknown(value: object) -> None:
    usage = usage_from_openai({"prompt_tokens": 10, "completion_tokens": value})

    assert not usage.reported and usage.implausible == "completion_tokens"
    assert (usage.input_tokens, usage.output_tokens, usage.reported_cost) == (0, 0, None)
    assert price_of("openai", "gpt-4o-mini", usage) is None


@pytest.mark.parametrize("value", [0, 1, MAX_TOKENS_PER_CALL, None])
def test_a_plausible_token_count_is_kept(value: int | None) -> None:
    usage = usage_from_openai({"prompt_tokens": 10, "completion_tokens": value})

    assert usage == Usage(10, value or 0)


@pytest.mark.parametrize(
    "value",
    [-0.01, float("nan"), float("inf"), 2.2e8, MAX_COST_PER_CALL + 1, "0.001", False],
    ids=repr,
)
def test_an_implausible_reported_cost_makes_the_report_unknown(value: object) -> None:
    usage = usage_from_openai({"prompt_tokens": 10, "completion_tokens": 5, "cost": value})

    assert not usage.reported and usage.implausible == "cost"
    assert price_of("openrouter", "openai/gpt-4o-mini", usage) is None


@pytest.mark.parametrize("value", [0, 0.0, 0.00085375, 12])
def test_a_plausible_reported_cost_wins(value: float) -> None:
    usage = usage_from_openai({"prompt_tokens": 10, "completion_tokens": 5, "cost": value})

    assert price_of("openrouter", "openai/gpt-4o-mini", usage) == Decimal(str(value))


def test_cached_input_larger_than_the_input_is_implausible() -> None:
    # genai-prices would price the negative uncached remainder as a refund.
    usage = usage_from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 90},
        }
    )

    assert not usage.reported and usage.implausible is not None


def test_a_usage_that_is_not_an_object_is_implausible() -> None:
    assert usage_from_openai("lots").implausible == "usage"
    assert usage_from_openai(None).implausible is None  # absent: merely not reported


def test_counts_that_each_pass_but_add_up_to_an_absurd_total_are_implausible() -> None:
    report = UsageReport()
    half = report.tokens("input_tokens", MAX_TOKENS_PER_CALL)

    usage = report.usage(input_tokens=half * 2, output_tokens=1)

    assert not usage.reported and usage.implausible is not None


def test_a_reported_cost_is_checked_even_when_built_directly() -> None:
    usage = Usage(10, 5, reported_cost=Decimal("-3"))

    assert price_of("openrouter", "openai/gpt-4o-mini", usage) is None


@pytest.mark.parametrize("streamed", [False, True])
async def test_each_provider_names_its_wire_field_once_at_warning(
    subject: Subject, streamed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    subject.fake.reply(Reply(wire_usage={"input_tokens": -7}))
    model = subject.fake.models[1]  # not openrouter/auto, which another model serves
    caplog.set_level(logging.WARNING)

    answer = await call(subject.provider, subject.key, ask(model, "hi"), streamed=streamed)

    usage = answer[-1].usage if streamed else answer.usage
    assert not usage.reported
    assert usage.implausible == subject.fake.usage_fields["input_tokens"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert subject.provider_id in warning and model in warning
    assert usage.implausible in warning
    assert subject.key.reveal() not in caplog.text


@pytest.mark.parametrize("figure", [float("nan"), float("inf")], ids=repr)
async def test_openrouter_credit_figures_that_are_not_numbers_are_unknown(
    build: Build, fake_openrouter: FakeLLM, figure: float
) -> None:
    key = fake_openrouter.add_key(limit=figure, limit_remaining=figure)

    info = await build(fake_openrouter).validate_key(Secret(key))

    assert (info.credit_limit, info.credit_remaining) == (None, None)
