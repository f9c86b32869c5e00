"""Every command and its mistakes, through the dispatcher as any adapter calls it."""

from __future__ import annotations

import logging
import re
import secrets

import pytest

from tests.bot.conftest import Chat
from tests.fakes.loopback import Fault


async def test_help_lists_every_command_with_examples(chat: Chat) -> None:
    said = await chat.say("/help")
    for command in ("/ask", "/summarize", "/usage", "/byok"):
        assert command in said.text
    detail = await chat.say("/help byok")
    assert "/byok add openai" in detail.text and "/byok limit openai 25" in detail.text
    wrong = await chat.say("/help askk")
    assert "Did you mean `/help ask`?" in wrong.text


async def test_unknown_command_suggests_the_closest(chat: Chat) -> None:
    said = await chat.say("/uasge week")
    assert said.reply.tone == "error" and "Did you mean `/usage`?" in said.text


async def test_add_asks_for_the_key_privately_then_stores_it(chat: Chat) -> None:
    said = await chat.say("/byok add grok --limit 15 --label personal")
    request = said.reply.secret_request
    assert request is not None and request.provider_id == "xai"
    assert request.monthly_limit == "15" and request.label == "personal"
    key = chat.rig.fakes.key("xai")
    stored = await chat.dispatcher.submit_key(chat.invocation("/byok add grok"), request, key)
    assert stored.tone == "success"
    assert f"…{key[-4:]}" in stored.plain_text() and "$15.00" in stored.plain_text()
    assert key not in stored.plain_text()
    listed = await chat.say("/byok list")
    assert "xai" in listed.text and "personal" in listed.text and "of $15.00" in listed.text
    assert key not in listed.text


async def test_a_refused_key_says_why_and_stores_nothing(chat: Chat, canary_key: str) -> None:
    said = await chat.add_key("openai", canary_key)
    assert said.reply.tone == "error"
    assert "openai refused this key: it is not a valid key. Nothing was stored." in said.text
    assert canary_key not in said.text
    assert "no keys yet" in (await chat.say("/byok list")).text


async def test_key_typed_in_a_shared_channel_is_refused_and_not_forwarded(
    chat: Chat, canary_key: str
) -> None:
    before = sum(len(chat.rig.fakes[p].requests) for p in chat.rig.fakes)
    said = await chat.say(f"/byok add openai {canary_key}", private=False)
    assert said.reply.tone == "error" and "Never paste an API key in a shared channel" in said.text
    assert canary_key not in said.text
    assert sum(len(chat.rig.fakes[p].requests) for p in chat.rig.fakes) == before
    assert "no keys yet" in (await chat.say("/byok list")).text


async def test_key_typed_in_a_dm_is_accepted(chat: Chat) -> None:
    key = chat.rig.fakes.key("anthropic")
    said = await chat.say(f"/byok add anthropic {key}", private=True)
    assert said.reply.tone == "success" and key not in said.text


async def test_a_key_pasted_into_a_question_is_never_sent(chat: Chat, canary_key: str) -> None:
    await chat.add_key("openai")
    before = len(chat.rig.fakes["openai"].requests)
    said = await chat.say(f"/ask why does {canary_key} not work?", private=False)
    assert said.reply.tone == "error" and "revoke it" in said.text
    assert canary_key not in said.text
    assert len(chat.rig.fakes["openai"].requests) == before


async def test_ask_streams_and_names_provider_model_tokens_and_cost(chat: Chat) -> None:
    await chat.add_key("openai")
    chat.rig.fakes["openai"].reply(text="Four, of course.", input_tokens=9, output_tokens=4)
    said = await chat.say("/ask --provider openai --max-tokens 50 What is 2+2?", private=False)
    assert said.streamed == "Four, of course."
    assert said.reply.text == "Four, of course." and not said.reply.private
    footer = said.reply.footer or ""
    assert footer.startswith("openai · gpt-5.6-terra · 9 in / 4 out tokens · $0.0000")
    sent = chat.rig.fakes["openai"].requests[-1].json()
    assert sent["messages"] == [{"role": "user", "content": "What is 2+2?"}]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/ask", "What would you like to ask?"),
        ("/ask --provider", "`--provider` needs a value."),
        ("/ask --provder openai hi", "Did you mean `--provider`?"),
        ("/ask --max-tokens lots hi", "`--max-tokens` needs a whole number, not `lots`."),
        ("/ask --temperature 3 hi", "`--temperature` must be between 0 and 2 (got 3)."),
        ("/ask --provider mistral hi", "Unknown provider `mistral`. Choose one of: openai, anthropic, google, xai, openrouter."),
        ("/ask --provider openai hi", "You have no openai key yet. Add one with `/byok add openai` (it asks for the key privately)."),
        ("/byok", "You have no keys yet"),
        ("/byok lst", "Did you mean `/byok list`?"),
        ("/byok add", "Which provider?"),
        ("/byok add cohere", "Unknown provider `cohere`"),
        ("/byok limit openai", "How much a month?"),
        ("/byok limit openai lots", "must be an amount in US dollars"),
        ("/byok limit openai 0", "A limit of $0 would refuse every request"),
        ("/byok limit openai -5", "must be a positive amount of US dollars like `20`, or `off`"),
        ("/byok prefs auto-swtich off", "Did you mean `auto-switch`?"),
        ("/byok prefs max-tokens many", "needs a whole number of tokens"),
        ("/usage year", "Usage: `/usage [week|month]`."),
        ("/usage month extra", "Usage: `/usage [week|month]`."),
        ("/summarize", "Paste a transcript"),
        ("/help nope", "Help exists for: `ask`, `summarize`, `usage`, `home`, `byok`, `help`."),
        ("/byok test openai", "You have no openai key. Add one with `/byok add openai`."),
        ("/ask --provider openai --provider anthropic hi", "`--provider` is given twice: keep one."),
        ("/byok prefs default openai", "Set that with `/byok default <provider>`"),
        ("/byok prefs max-tokens 0", "`max-tokens` must be between 1 and 200,000 tokens, or `off` for no cap (got 0)."),
        ("/byok prefs model openai gpt-4", "gpt-4 → gpt-5.6-sol"),
    ],
)  # fmt: skip
async def test_every_mistake_gets_an_actionable_answer(
    chat: Chat, line: str, expected: str
) -> None:
    said = await chat.say(line)
    assert expected in said.text, said.text


async def test_fallback_is_explained_in_the_reply(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.add_key("anthropic")
    await chat.say("/byok default openai")
    await chat.say("/byok fallback claude")
    chat.rig.fakes["openai"].inject(Fault.http(503), path="chat/completions")
    said = await chat.say("/ask Explain DNS in one line")
    assert any("trying anthropic" in status for status in said.statuses)
    assert "Answered by anthropic instead" in said.text
    assert (said.reply.footer or "").startswith("anthropic · ")


async def test_cut_stream_is_marked_incomplete(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok prefs auto-switch off")
    chat.rig.fakes["openai"].reply(text="The answer starts well and then")
    chat.rig.fakes["openai"].inject(Fault.cut(after=3), path="chat/completions")
    said = await chat.say("/ask tell me")
    assert said.reply.incomplete and said.reply.tone == "warning"
    assert said.reply.text == said.streamed != ""
    assert "Incomplete answer" in said.text


async def test_usage_shows_what_an_interrupted_request_holds_against_the_limit(
    chat: Chat,
) -> None:
    await chat.add_key("openai")
    await chat.say("/byok limit openai 10")
    await chat.say("/byok prefs auto-switch off")
    chat.rig.fakes["openai"].reply(text="The answer starts well and then")
    chat.rig.fakes["openai"].inject(Fault.cut(after=3), path="chat/completions")
    await chat.say("/ask --max-tokens 1000 tell me")
    said = await chat.say("/usage")
    held = re.search(
        r"\(1 failed, 1 of them interrupted and counted at up to (\$[0-9.]+) against the limit\)",
        said.text,
    )
    assert held is not None, said.text
    assert f"openai: {held.group(1)} of $10.00" in said.text  # the limit line agrees
    listed = await chat.say("/byok list")
    assert f"Counted against the limit: {held.group(1)} of $10.00" in listed.text


async def test_preferences_and_limits_commands(chat: Chat) -> None:
    await chat.add_key("openai")
    assert "now anthropic" in (await chat.say("/byok default claude")).text
    assert "no usable anthropic key yet" in (await chat.say("/byok default claude")).text
    assert "`max-tokens` is now 300" in (await chat.say("/byok prefs max-tokens 300")).text
    assert "`history` is now off" in (await chat.say("/byok prefs history off")).text
    assert "gpt-5.6-sol" in (await chat.say("/byok prefs model openai gpt-4")).text
    shown = await chat.say("/byok prefs")
    assert "max-tokens: 300" in shown.text and "openai: gpt-5.6-sol" in shown.text
    assert "$25.00 a month" in (await chat.say("/byok limit openai $25")).text
    assert "no monthly limit" in (await chat.say("/byok limit openai off")).text
    assert (
        "only be used with: gpt-4o-mini" in (await chat.say("/byok models openai gpt-4o-mini")).text
    )
    listing = await chat.say("/byok models openai")
    assert "Allowed for your openai key: gpt-4o-mini" in listing.text
    assert "gpt-5.6-terra" in listing.text  # what the key can use, from the provider
    assert "any model" in (await chat.say("/byok models openai all")).text


async def test_test_disable_enable_remove(chat: Chat) -> None:
    await chat.add_key("google")
    assert "Your google key works" in (await chat.say("/byok test gemini")).text
    assert "is off" in (await chat.say("/byok disable google")).text
    assert "disabled" in (await chat.say("/ask --provider google hi")).text
    assert "on again" in (await chat.say("/byok enable google")).text
    assert "Removed your google key" in (await chat.say("/byok remove google")).text
    assert "had no google key" in (await chat.say("/byok remove google")).text


async def test_usage_shows_requests_tokens_cost_and_limits(chat: Chat) -> None:
    await chat.add_key("openai")
    await chat.say("/byok limit openai 10")
    chat.rig.fakes["openai"].reply(text="a", input_tokens=1000, output_tokens=100)
    await chat.say("/ask one")
    said = await chat.say("/usage")
    assert "1 question · 1 attempt in November 2026 so far" in said.text
    assert "gpt-5.6-terra: 1 request, 1,000 in / 100 out tokens" in said.text
    assert "Monthly limits" in said.text and "of $10.00" in said.text
    week = await chat.say("/usage week")
    assert "this week" in week.text


async def test_usage_never_shows_an_unknown_price_as_zero(chat: Chat) -> None:
    await chat.add_key("openai")
    chat.rig.fakes["openai"].models.append("gpt-99-unreleased")
    answer = await chat.say("/ask --model gpt-99-unreleased one")
    assert "cost unknown" in answer.text
    said = await chat.say("/usage")
    assert "$0.00" not in said.text
    assert (
        "1 question · 1 attempt in November 2026 so far; "
        "cost unknown (1 request of unknown price)" in said.text
    )
    assert "openai — 1 request, cost unknown" in said.text
    chat.rig.fakes["openai"].reply(text="a", input_tokens=1000, output_tokens=100)
    await chat.say("/ask two")
    mixed = await chat.say("/usage")
    assert (
        "2 questions · 2 attempts in November 2026 so far, "
        "$0.0032 in total + 1 request of unknown cost." in mixed.text
    )
    assert "openai — 2 requests, $0.0032 + 1 request of unknown cost" in mixed.text


async def test_unexpected_errors_get_an_incident_ref_not_the_exception(
    chat: Chat, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_detail = f"internal detail sk-should-not-leak-{secrets.token_hex(16)}"

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError(secret_detail)

    monkeypatch.setattr(chat.rig.engine.preferences, "get", broken)
    with caplog.at_level(logging.ERROR):
        said = await chat.say("/byok prefs")
    assert "Something went wrong on our side (ref " in said.text
    assert secret_detail not in said.text
    assert any("incident" in r.getMessage() for r in caplog.records)


async def test_a_provider_outage_while_adding_a_key_says_to_retry(chat: Chat) -> None:
    chat.rig.fakes["openai"].inject(Fault.http(503), path="/models")
    said = await chat.add_key("openai")
    assert said.reply.tone == "error"
    assert "Could not reach openai to check the key" in said.text
    assert "Nothing was stored; try again in a minute." in said.text


class RecordingMessenger:
    """The platform side of a DM, recorded (its real implementations are tested per adapter)."""

    platform = "slack"

    def __init__(self) -> None:
        self.sent: list[tuple[object, object]] = []

    async def send_dm(self, user: object, reply: object) -> None:
        self.sent.append((user, reply))


async def test_crossing_80_percent_sends_a_spend_alert_by_dm(chat: Chat) -> None:
    from decimal import Decimal

    from byok.pricing import price_of
    from byok.types import Usage

    messenger = RecordingMessenger()
    chat.dispatcher.ctx.messengers["slack"] = messenger
    await chat.add_key("openai")
    cost = price_of("openai", "gpt-5.6-terra", Usage(input_tokens=11, output_tokens=1000))
    assert cost is not None
    await chat.say(f"/byok limit openai {cost * Decimal('2.2')}")  # at least a cent
    for _ in range(2):
        chat.rig.fakes["openai"].reply(text="ok", input_tokens=11, output_tokens=1000)
    await chat.say("/ask --max-tokens 1000 one", private=False)
    assert messenger.sent == []
    said = await chat.say("/ask --max-tokens 1000 two", private=False)
    assert "You have used 91% (" in said.text  # shown in the answer too
    [(user, reply)] = messenger.sent
    assert str(user) == "slack:T111:U111"
    assert "91% of your monthly limit used" in reply.plain_text()  # type: ignore[attr-defined]


async def test_preferences_are_shown_under_one_heading(chat: Chat) -> None:
    said = await chat.say("/byok prefs")
    assert said.reply.title is None
    assert said.reply.sections[0].title == "Preferences"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_an_answer_cut_at_the_token_limit_says_so(chat: Chat, provider: str) -> None:
    await chat.add_key(provider)
    chat.rig.fakes[provider].reply(
        text="The first three reasons are", output_tokens=50, finish_reason="length"
    )
    said = await chat.say(f"/ask --provider {provider} --max-tokens 50 Why is the sky blue?")
    assert "The answer stopped at the token limit (50 tokens written)" in said.text
    assert "higher `--max-tokens`" in said.text
    chat.rig.fakes[provider].reply(text="Rayleigh scattering.")
    done = await chat.say(f"/ask --provider {provider} Why is the sky blue?")
    assert "token limit" not in done.text
