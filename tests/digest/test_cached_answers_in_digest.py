"""The weekly digest says what the response cache saved, from rows the engine wrote.

Questions are asked twice through the real service (the second answered from the
cache); the digest runner then loads that week and sends it: its summary names the
money saved, and an unknown saving is counted as unknown, never shown as $0.00.
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.digest.runner import DigestRunner
from bot.formatting import money
from byok.db import Database
from tests.digest.conftest import PERIOD, Clock, RecordingMessenger, settings
from tests.engine.conftest import ALICE, BOB, MakeRig

QUESTION = [{"role": "user", "content": "What is the capital of Australia?"}]
OTHER = [{"role": "user", "content": "And of Austria?"}]
UNPRICED_MODEL = "gpt-99-unreleased"
ZERO = re.compile(r"\$0\.00(?!\d)")  # $0.00 itself, not $0.0012


async def test_the_digest_names_the_money_saved_and_the_savings_of_unknown_value(
    make_rig: MakeRig, database: Database, clock: Clock
) -> None:
    rig = await make_rig(database)  # SQLite and PostgreSQL
    for user in (ALICE, BOB):
        await rig.add_key("openai", user)
    await rig.service(ALICE).set_preferences(cache_answers=True)
    rig.fakes["openai"].models.append(UNPRICED_MODEL)
    service = rig.service(ALICE)
    first = await service.chat(QUESTION)  # Wed 18 Nov: within the digest's week
    other = await service.chat(OTHER)
    unpriced = await service.chat(QUESTION, model=UNPRICED_MODEL)
    assert first.cost and other.cost and unpriced.cost is None
    rig.clock.now += timedelta(hours=2)
    hits = [
        await service.chat(QUESTION),
        await service.chat(QUESTION),
        await service.chat(OTHER),
        await service.chat(QUESTION, model=UNPRICED_MODEL),
    ]
    assert all(hit.from_cache is not None for hit in hits)
    await rig.service(BOB).chat(QUESTION)  # Bob has no cache: nothing saved
    await rig.engine.ledger.flush()

    messenger = RecordingMessenger("slack")
    discord = RecordingMessenger("discord")
    runner = DigestRunner(database, settings(), [messenger, discord], clock=clock)
    report = await runner.run(PERIOD)
    assert sorted(map(str, report.sent)) == sorted(map(str, [ALICE, BOB]))

    [reply] = messenger.to(ALICE)
    saved = 2 * first.cost + other.cost
    assert reply.text.endswith(
        f"You saved {money(saved)} by 4 cached answers (1 of unknown value)."
    ), reply.text
    assert not ZERO.search(reply.text)
    assert reply.text.startswith("7 requests · ")  # 3 asked, 4 answered from the cache
    [openai] = [s for s in reply.sections if (s.title or "").startswith("OpenAI")]
    assert any(b.startswith(f"{first.model}: 5 requests") and "3 from your cache" in b
               for b in openai.bullets), openai.bullets  # fmt: skip
    assert any(b.startswith(f"{UNPRICED_MODEL}: 2 requests") and "1 from your cache" in b
               for b in openai.bullets), openai.bullets  # fmt: skip
    # Cached answers are not failures, and add nothing to what the week cost.
    [failures] = [s for s in reply.sections if s.title == "Failures and fallbacks"]
    assert failures.bullets == ("No failed requests and no fallbacks.",)
    assert f"{money(first.cost + other.cost)} + 1 request of unknown cost." in reply.text

    [bob] = discord.to(BOB)
    assert "saved" not in bob.text and "cache" not in bob.plain_text()


async def test_a_week_of_only_unknown_savings_says_unknown(
    make_rig: MakeRig, database: Database, clock: Clock
) -> None:
    rig = await make_rig(database)
    await rig.add_key("openai", ALICE)
    await rig.service(ALICE).set_preferences(cache_answers=True)
    rig.fakes["openai"].models.append(UNPRICED_MODEL)
    service = rig.service(ALICE)
    await service.chat(QUESTION, model=UNPRICED_MODEL)
    await service.chat(QUESTION, model=UNPRICED_MODEL)
    await rig.engine.ledger.flush()
    messenger = RecordingMessenger("slack")
    await DigestRunner(database, settings(), [messenger], clock=clock).run(PERIOD)
    [reply] = messenger.to(ALICE)
    assert reply.text.endswith("You saved an unknown amount by 1 cached answer."), reply.text
    assert not ZERO.search(reply.plain_text())
