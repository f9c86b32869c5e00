"""The command grammar on any text: a parse result, or the user's own error — nothing else.

Every parser a command line passes before a handler acts: ``--flags`` (``/ask``,
``/summarize``, ``/byok add``), dollar amounts (``/byok limit``), preference values
(``/byok prefs``), and the key detector. A parse that succeeds hands on only values the
engine can use (finite, in range); anything else is a :class:`CommandError` whose
message tells the user what to write.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.commands.ask import ASK_FLAGS, ASK_USAGE
from bot.commands.keys import parse_usd
from bot.commands.prefs import PREFERENCES
from bot.commands.table import COMMAND_HINTS
from bot.grammar import CommandError, Flag, Parsed, closest, parse_flags, text_value
from bot.lookup import contains_key
from tests.fuzz.strategies import command_text, hostile_text, numberish

#: ``/byok add``'s options, as bot.commands.keys declares them.
ADD_FLAGS = (
    Flag("label", text_value),
    Flag("limit", lambda _name, raw: parse_usd(raw)),
    Flag("models", text_value),
)
ADD_USAGE = "/byok add <provider> [--label NAME] [--limit USD] [--models m1,m2]"


def parsed_or_refused(parse: Callable[[], Any]) -> Any:
    """Run ``parse``; a refusal must be a CommandError with a message, and gives None."""
    try:
        return parse()
    except CommandError as exc:
        assert COMMAND_HINTS.error_text(exc).strip(), "a refusal must say what is wrong"
        return None


def check_ask_values(parsed: Parsed, text: str) -> None:
    assert set(parsed.flags) <= {f.name for f in ASK_FLAGS}
    assert parsed.text == parsed.text.strip() and parsed.text in text
    tokens = parsed.flags.get("max-tokens")
    if tokens is not None:
        assert isinstance(tokens, int) and 1 <= tokens <= 200_000
    temperature = parsed.flags.get("temperature")
    if temperature is not None:
        assert math.isfinite(temperature) and 0 <= temperature <= 2, temperature


@given(command_text())
@example("--max-tokens 1e309 hi")
@example("--temperature -0 hi")
@example("why? --provider")
@example("-- --provider openai")
@example("--temperature nan hi")
def test_ask_flags_parse_or_refuse(text: str) -> None:
    parsed = parsed_or_refused(lambda: parse_flags(text, ASK_FLAGS, usage=ASK_USAGE))
    if parsed is not None:
        check_ask_values(parsed, text)


@given(st.sampled_from(["--temperature", "-t", "--max-tokens"]), numberish, hostile_text)
def test_number_flags_take_only_finite_values_in_range(flag: str, value: str, rest: str) -> None:
    text = f"{flag} {value} {rest}"
    parsed = parsed_or_refused(lambda: parse_flags(text, ASK_FLAGS, usage=ASK_USAGE))
    if parsed is not None:
        check_ask_values(parsed, text)


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_found_temperature_nan_is_refused(value: str) -> None:
    text = f"--temperature {value} hi"
    parsed = parsed_or_refused(lambda: parse_flags(text, ASK_FLAGS, usage=ASK_USAGE))
    if parsed is not None:
        check_ask_values(parsed, text)


@given(hostile_text)
def test_any_text_parses_or_is_refused(text: str) -> None:
    parsed = parsed_or_refused(lambda: parse_flags(text, ASK_FLAGS, usage=ASK_USAGE))
    if parsed is not None:
        check_ask_values(parsed, text)
    parsed_or_refused(lambda: parse_flags(text, ADD_FLAGS, usage=ADD_USAGE))


def check_amount(value: Decimal | None) -> None:
    if value is not None:
        assert value.is_finite() and value > 0
        assert value >= Decimal("0.005"), f"{value} shows as $0.00: the same mistake as $0"


@given(st.one_of(numberish, hostile_text))
@example("1e309")
@example("99999999999")
@example("$-0")
@example("1e-400")
def test_dollar_amounts_parse_or_refuse(raw: str) -> None:
    check_amount(parsed_or_refused(lambda: parse_usd(raw)))


@pytest.mark.parametrize("raw", ["1e-400", "0.00390625", "0.004"])
def test_found_limit_that_rounds_to_zero_is_refused(raw: str) -> None:
    check_amount(parsed_or_refused(lambda: parse_usd(raw)))


@given(st.sampled_from(PREFERENCES), st.one_of(numberish, hostile_text))
def test_preference_values_parse_or_refuse(preference: Any, raw: str) -> None:
    value = parsed_or_refused(lambda: preference.parse(preference.name, raw))
    if isinstance(value, int) and not isinstance(value, bool):
        assert value >= 1


@given(hostile_text, st.lists(st.sampled_from(["ask", "byok", "usage", "summarize", "help"])))
def test_suggestions_and_key_detection_take_any_text(text: str, options: list[str]) -> None:
    guess = closest(text, options)
    assert guess is None or guess in options
    assert contains_key(text) in (True, False)
