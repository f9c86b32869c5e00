"""``/ask --provider a,b,c`` and ``/ask --compare``: answers side by side, each in its part."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.commands.ask import compare_summary
from bot.provider_names import ProviderNames
from bot.reply import Delta, Part, Reply
from byok.answers import Answer, CompareFailure, FromCache
from byok.errors import ProviderUnavailableError, StreamInterruptedError
from byok.types import Usage
from tests.bot.conftest import Chat, Said
from tests.bot.test_console import console, write_config
from tests.fakes.loopback import Fault
from tests.fakes.plugin import FakeProviders

NAMES = ProviderNames({"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google"})


def parts(said: Said) -> dict[str, list[Part]]:
    by_key: dict[str, list[Part]] = {}
    for event in said.events:
        if isinstance(event, Part):
            by_key.setdefault(event.key, []).append(event)
    return by_key


def part_reply(said: Said, key: str) -> Reply:
    last = parts(said)[key][-1].event
    assert isinstance(last, Reply)
    return last


@pytest.fixture
async def three(chat: Chat) -> Chat:
    for provider in ("openai", "anthropic", "google"):
        await chat.add_key(provider)
    return chat


async def test_a_comma_list_asks_each_and_shows_each_in_its_part(three: Chat) -> None:
    fakes = three.rig.fakes
    fakes["openai"].reply(text="from openai", input_tokens=10, output_tokens=3)
    fakes["anthropic"].reply(text="from anthropic", input_tokens=10, output_tokens=3)
    said = await three.say("/ask --provider openai,anthropic,gemini Why is the sky blue?")
    assert set(parts(said)) == {"openai", "anthropic", "google"}
    for key, events in parts(said).items():
        *streamed, end = events
        assert all(isinstance(e.event, Delta) for e in streamed)
        assert isinstance(end.event, Reply) and end.title == key  # the rig names them by id
        assert "".join(e.event.text for e in streamed) == end.event.text  # type: ignore[union-attr]
        footer = end.event.footer or ""
        assert footer.startswith(key) and "tokens" in footer
        assert re.search(r" · (\d+ ms|\d+\.\d s)$", footer), footer  # then its latency
    assert part_reply(said, "anthropic").text == "from anthropic"
    assert said.statuses == ["Asking openai, anthropic, google…"]
    closing = said.reply.text
    assert "fastest: " in closing and "cheapest: " in closing and "total $" in closing
    # Everything the parts streamed went into parts: nothing loose.
    assert said.streamed == ""


async def test_compare_asks_every_working_key_up_to_the_bound(three: Chat) -> None:
    await three.add_key("xai")
    said = await three.say("/ask --compare Why is the sky blue?")
    assert list(parts(said)) != [] and len(parts(said)) == 3  # the default bound


async def test_one_failure_is_shown_in_its_place(three: Chat) -> None:
    three.rig.fakes["anthropic"].inject(Fault.http(503))
    said = await three.say("/ask --provider openai,anthropic,google hi")
    failed = part_reply(said, "anthropic")
    assert failed.tone == "error" and failed.footer == "anthropic · failed"
    assert part_reply(said, "openai").tone == "answer"
    assert said.reply.text.endswith("1 failed")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/ask --provider openai,openai hi", "named twice"),
        ("/ask --provider openai,mistral hi", "Unknown provider `mistral`"),
        ("/ask --provider openai,,anthropic hi", "empty name"),
        ("/ask --provider openai, anthropic hi", "no spaces"),
        ("/ask --provider openai,anthropic --model gpt-4o hi", "leave it out when comparing"),
        ("/ask --provider openai,anthropic,google,xai hi", "At most 3 providers"),
        ("/ask --compare --provider openai hi", "at least two providers"),
    ],
)
async def test_mistakes_in_the_list_are_explained(three: Chat, line: str, message: str) -> None:
    said = await three.say(line)
    assert said.reply.tone == "error"
    assert message in said.reply.text
    if "Unknown provider" in message:
        assert "anthropic" in said.reply.text and "openrouter" in said.reply.text
    assert not any(three.rig.fakes[p].requests_to("chat/completions") for p in ("openai",))


async def test_a_follow_up_in_a_compare_thread_asks_the_same_set(three: Chat) -> None:
    await three.say("/byok prefs history on")
    await three.say("/ask --provider openai,google First question")
    said = await three.say("/ask And a follow-up?")
    assert set(parts(said)) == {"openai", "google"}
    assert not [r for r in three.rig.fakes["anthropic"].requests if r.method == "POST"]


def _answer(provider: str, ms: int, cost: str | None, cached: bool = False) -> Answer:
    return Answer(
        text="x",
        provider_id=provider,
        model="m",
        usage=Usage(input_tokens=1, output_tokens=1),
        cost=None if cost is None else Decimal(cost),
        latency_ms=ms,
        request_id="r",
        key_source="user",
        from_cache=FromCache(datetime(2026, 1, 1, tzinfo=UTC), None) if cached else None,
    )


def test_the_closing_line_compares_them() -> None:
    answers = [
        _answer("openai", 2100, "0.0040"),
        _answer("anthropic", 1200, "0.0008"),
        _answer("google", 1900, "0.0003"),
    ]
    assert compare_summary(answers, [], NAMES) == (
        "fastest: Anthropic (1.2 s) · cheapest: Google ($0.0003) · total $0.0051"
    )


def test_an_unknown_cost_is_never_counted_as_zero() -> None:
    answers = [_answer("openai", 900, None), _answer("anthropic", 1200, "0.0008")]
    line = compare_summary(answers, [], NAMES)
    assert (
        line
        == "fastest: OpenAI (900 ms) · cheapest: Anthropic ($0.0008) · total ≥ $0.0008 + unknown"
    )
    only_unknown = compare_summary([_answer("openai", 900, None)], [], NAMES)
    assert only_unknown == "only OpenAI answered · total unknown"
    cut = CompareFailure("google", StreamInterruptedError("google", "cut"), "half an ans")
    with_cut = compare_summary([_answer("anthropic", 1200, "0.0008")], [cut], NAMES)
    assert with_cut == "only Anthropic answered · total ≥ $0.0008 + unknown · 1 failed"


def test_cached_answers_are_not_the_fastest_nor_the_cheapest() -> None:
    answers = [
        _answer("openai", 1, "0", cached=True),
        _answer("anthropic", 1200, "0.0008"),
        _answer("google", 1900, "0.0003"),
    ]
    line = compare_summary(answers, [], NAMES)
    assert line == "fastest: Anthropic (1.2 s) · cheapest: Google ($0.0003) · total $0.0011"
    failed = CompareFailure("openai", ProviderUnavailableError("openai", "down"))
    assert compare_summary([], [failed], NAMES) == "no provider answered · 1 failed"


@pytest.mark.slow  # runs the console as a process
async def test_the_console_prints_one_labelled_block_per_provider(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    fake_providers["openai"].reply(text="Blue from OpenAI.", input_tokens=9, output_tokens=4)
    fake_providers["anthropic"].reply(text="Blue from Claude.", input_tokens=9, output_tokens=4)
    script = "\n".join([
        "/byok add openai",
        fake_providers.key("openai"),
        "/byok add anthropic",
        fake_providers.key("anthropic"),
        "/ask --provider openai,anthropic Why is the sky blue?",
    ])  # fmt: skip
    master = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    out, err, code = await console(tmp_path, config, script + "\n", env=master)
    assert code == 0, err
    openai = out.index("── OpenAI ──\nBlue from OpenAI.\n— OpenAI · gpt-5.6-terra · 9 in / 4 out")
    claude = out.index("── Anthropic ──\nBlue from Claude.\n— Anthropic · ")
    closing = out.index("fastest: ")
    assert max(openai, claude) < closing
    assert "total $" in out[closing:]
