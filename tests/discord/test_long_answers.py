"""Long answers streamed fast through the real Discord path, against a fake that refuses
what Discord refuses (400 Invalid Form Body for anything over its limits).

The provider fakes stream in many small chunks with no delay, far faster than the edit
pacing, so the throttle coalesces and waits as it does against Discord (edits in flight
while newer text arrives: the race that lost the final edit). Each answer must end as
messages that fit Discord's limits, hold the whole answer in order, carry the footer and
no "still writing" line, with nothing logged as an error. Nothing asserts a timing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from typing import Any

import pytest

from adapters.discord import Pacing
from tests.discord.conftest import DiscordRig, MakeDiscord, poll
from tests.fakes.fake_discord import CONTENT_LIMIT, form_errors
from tests.fakes.llm_script import Reply as LLMReply
from tests.fakes.loopback import Fault

ASKS = 10
#: Edits of one message at most every 50 ms: fast answers outrun it, as they outrun
#: Discord's pace, so edits coalesce while earlier ones are still on their way.
PACING_S = 0.05


def _long_answer(seed: int) -> str:
    """Prose, lists and fenced code, 5,000 to 20,000 characters (one per seed)."""
    rng = random.Random(seed)
    words = ["tea", "leaf", "kettle", "brew", "steep", "water", "cup", "pot", "oolong"]
    target = rng.randint(5_000, 20_000)
    parts: list[str] = []
    while sum(len(p) + 2 for p in parts) < target:
        kind = rng.choice(("prose", "prose", "code", "list"))
        if kind == "prose":
            parts.append(" ".join(rng.choice(words) for _ in range(rng.randint(20, 160))) + ".")
        elif kind == "list":
            parts.append("\n".join(f"- item {i}: {rng.choice(words)}" for i in range(8)))
        else:
            body = "\n".join(
                f"    step_{i} = brew({i}, {rng.choice(words)!r})  # {'x' * rng.randint(0, 60)}"
                for i in range(rng.randint(5, 90))
            )
            parts.append(f"```python\n{body}\n```")
    return "\n\n".join(parts)


def _code_answer(lines: int) -> str:
    """One long code block: every message but the last is a nearly full one."""
    code = "\n".join(f"print('line {i}')  # {'x' * (i % 50)}" for i in range(lines))
    return f"Here it is:\n\n```python\n{code}\n```\n\nDone."


def _fast_chunks(text: str, seed: int) -> tuple[str, ...]:
    """Many small pieces (2 to 20 characters), as a fast model streams."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < text.__len__():
        step = rng.randint(2, 20)
        pieces.append(text[at : at + step])
        at += step
    return tuple(pieces)


def _words(text: str) -> list[str]:
    """The answer's words in order, fence lines left out (splits close and reopen them)."""
    lines = [ln for ln in text.split("\n") if not re.fullmatch(r"\s*```\w*\s*", ln)]
    return "\n".join(lines).split()


def _answer_shown(contents: list[str]) -> str:
    """The messages' text as one, without the footer line of the last."""
    return "\n".join([*contents[:-1], contents[-1].rsplit("\n-# ", 1)[0]])


def _sent_bodies(rig: DiscordRig) -> list[dict[str, Any]]:
    """Every message body the bot sent or edited (interaction callbacks included)."""
    bodies = []
    for request in rig.fake.requests:
        if request.method not in ("POST", "PATCH") or not request.body:
            continue
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            continue
        body = request.json()
        if isinstance(body, dict):
            bodies.append(body.get("data") if "/callback" in request.path else body)
    return [b for b in bodies if isinstance(b, dict)]


@pytest.fixture
async def paced(make_discord: MakeDiscord) -> DiscordRig:
    rig = await make_discord(pacing=Pacing(PACING_S))
    await rig.add_key("openai")
    return rig


def _check_answer(
    rig: DiscordRig, payload: dict[str, Any], answer: str, provider: str
) -> list[dict[str, Any]]:
    messages = rig.fake.responses(payload["id"])
    contents = [m["content"] for m in messages]
    assert rig.fake.refused == [], "Discord refused a message over its limits"
    assert all(not form_errors(body) for body in _sent_bodies(rig))
    assert all(len(c) <= CONTENT_LIMIT for c in contents)
    assert not any("still writing" in c or "⏳" in c for c in contents)
    assert re.search(rf"\n-# {provider} · ", contents[-1]), contents[-1][-300:]
    assert _words(_answer_shown(contents)) == _words(answer)
    return messages


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(ASKS))
async def test_a_long_fast_answer_arrives_whole_within_discords_limits(
    paced: DiscordRig, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    answer = _long_answer(seed)
    paced.engine.fakes["openai"].reply(
        LLMReply(text=answer, chunks=_fast_chunks(answer, seed), output_tokens=3000)
    )
    payload = paced.events.command("ask", paced.events.options(prompt="Teach me tea"))
    with caplog.at_level(logging.WARNING):
        await paced.interact(payload)
    messages = _check_answer(paced, payload, answer, "openai")
    assert len(messages) >= 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("lines", [150, 250])
async def test_a_fallback_status_line_never_pushes_a_message_over_the_limit(
    paced: DiscordRig, lines: int, caplog: pytest.LogCaptureFixture
) -> None:
    await paced.add_key("anthropic")
    await paced.interact(
        paced.events.command("byok", [paced.events.sub("fallback", provider="anthropic")])
    )
    answer = _code_answer(lines)
    paced.engine.fakes["openai"].inject(Fault.http(503), path="/chat/completions")
    paced.engine.fakes["anthropic"].reply(
        LLMReply(text=answer, chunks=_fast_chunks(answer, lines), output_tokens=3000)
    )
    payload = paced.events.command("ask", paced.events.options(prompt="Teach me tea"))
    with caplog.at_level(logging.ERROR):
        await paced.interact(payload)
    statused = [b for b in _sent_bodies(paced) if "— trying anthropic" in (b.get("content") or "")]
    assert statused, "the fallback status line was shown while the answer streamed"
    messages = _check_answer(paced, payload, answer, "anthropic")
    assert "Answered by anthropic instead" in str(messages[-1]["embeds"])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_fallback_status_under_a_nearly_full_message_is_never_refused(
    paced: DiscordRig, caplog: pytest.LogCaptureFixture
) -> None:
    """The stream stalls once a message is nearly full, so that view is surely sent."""
    await paced.add_key("anthropic")
    await paced.interact(
        paced.events.command("byok", [paced.events.sub("fallback", provider="anthropic")])
    )
    answer = _code_answer(150)
    pieces = [answer[i : i + 20] for i in range(0, len(answer), 20)]
    anthropic = paced.engine.fakes["anthropic"]
    anthropic.reply(LLMReply(text=answer, chunks=tuple(pieces)))
    nearly_full = 1880 // 20  # pieces: what one message held before the status was counted
    tail = "".join(pieces[:nearly_full])[-60:]
    anthropic.inject(
        Fault.stall(after=anthropic.events_before_text + nearly_full), path="/messages"
    )
    paced.engine.fakes["openai"].inject(Fault.http(503), path="/chat/completions")
    payload = paced.events.command("ask", paced.events.options(prompt="Write code"))
    paced.adapter.client._connection.parse_interaction_create(payload)

    def status_under_the_stalled_text() -> bool:
        bodies = [b.get("content") or "" for b in _sent_bodies(paced)]
        return any("— trying anthropic" in c and tail in c for c in bodies)

    await poll(status_under_the_stalled_text, "the status was shown under the text so far")
    with caplog.at_level(logging.ERROR):
        await anthropic.stop()  # the stalled stream ends, cut short
        await asyncio.wait_for(paced.adapter.inflight.finished(int(payload["id"])), 10)
    assert paced.fake.refused == [], "Discord refused a message over its limits"
    contents = [m["content"] for m in paced.fake.responses(payload["id"])]
    assert all(len(c) <= CONTENT_LIMIT for c in contents)
    assert not any("still writing" in c or "⏳" in c for c in contents)
    assert "-# anthropic · stopped early" in contents[-1]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_answer_cut_midway_ends_as_an_incomplete_answer_within_limits(
    paced: DiscordRig, caplog: pytest.LogCaptureFixture
) -> None:
    await paced.interact(
        paced.events.command(
            "byok", [paced.events.sub("prefs", setting="auto-switch", value="off")]
        )
    )
    answer = _long_answer(7)
    chunks = _fast_chunks(answer, 7)
    openai = paced.engine.fakes["openai"]
    openai.reply(LLMReply(text=answer, chunks=chunks))
    openai.inject(Fault.cut(after=len(chunks) // 2), path="/chat/completions")
    payload = paced.events.command("ask", paced.events.options(prompt="Teach me tea"))
    with caplog.at_level(logging.ERROR):
        await paced.interact(payload)
    contents = [m["content"] for m in paced.fake.responses(payload["id"])]
    assert paced.fake.refused == []
    assert not any("still writing" in c for c in contents)
    assert "-# openai · stopped early" in contents[-1]
    shown = _words(_answer_shown(contents))
    expected = _words(answer)[: len(shown)]
    assert len(shown) > 100 and shown[:-1] == expected[:-1]
    assert expected[-1].startswith(shown[-1])  # the cut may fall inside a word
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
