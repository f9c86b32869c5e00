"""An engine error's remedies worded as the bot's commands, from the command table."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from bot.commands import keys, prefs
from bot.commands.ask import ASK_FLAGS
from bot.commands.spec import ChatCommand, Subcommand
from bot.commands.table import COMMAND_HINTS, COMMAND_TABLE, command_named, subcommand_named
from bot.grammar import Flag, parse_flags
from bot.remedy_text import CommandHints
from byok import remedies
from byok.errors import (
    ByokError,
    InvalidKeyError,
    NoKeyError,
    ProviderUnavailableError,
    SpendLimitError,
    UnpricedModelError,
    as_operator_endpoint,
)
from byok.remedies import (
    AddKey,
    CheckKey,
    ChooseMaxTokens,
    ChooseModel,
    ChooseProvider,
    EnableKey,
    RaiseLimit,
    Remedy,
    RemoveLimit,
    SetAllowedModels,
    SetPreferredModel,
)
from tests.bot.conftest import Chat

EVERY_REMEDY: list[tuple[Remedy, str]] = [
    (AddKey("xai"), "`/byok add xai`"),
    (AddKey(), "`/byok add <provider>`"),
    (CheckKey("xai"), "`/byok test xai`"),
    (EnableKey("xai"), "`/byok enable xai`"),
    (RaiseLimit("xai"), "`/byok limit xai <usd>`"),
    (RemoveLimit("xai"), "`/byok limit xai off`"),
    (SetAllowedModels("xai"), "`/byok models xai …`"),
    (SetPreferredModel("xai"), "`/byok prefs model xai <model>`"),
    (ChooseModel(), "`--model`"),
    (ChooseProvider(), "`--provider`"),
    (ChooseMaxTokens(), "`--max-tokens`"),
]
HANDLERS = {
    AddKey: keys.add,
    CheckKey: keys.test,
    EnableKey: keys.enable,
    RaiseLimit: keys.limit,
    RemoveLimit: keys.limit,
    SetAllowedModels: keys.models,
    SetPreferredModel: prefs.prefs,
}


@pytest.mark.parametrize(("remedy", "shown"), EVERY_REMEDY, ids=repr)
def test_each_remedy_is_worded_as_its_command(remedy: Remedy, shown: str) -> None:
    assert COMMAND_HINTS.remedy_text(remedy) == shown


def test_every_kind_of_remedy_has_a_command() -> None:
    kinds = {
        kind
        for kind in vars(remedies).values()
        if isinstance(kind, type) and issubclass(kind, Remedy) and kind is not Remedy
    }
    assert kinds == {type(remedy) for remedy, _ in EVERY_REMEDY}
    for kind in kinds:
        assert COMMAND_HINTS.command(kind("xai") if kind in HANDLERS else kind())


@pytest.mark.parametrize(("remedy", "shown"), EVERY_REMEDY[:8], ids=repr)
def test_a_hinted_command_is_the_one_the_dispatcher_runs(remedy: Remedy, shown: str) -> None:
    word, sub, *_ = COMMAND_HINTS.command(remedy).removeprefix("/").split()
    command = command_named(word)
    assert command is not None
    found = subcommand_named(command, sub)
    assert found is not None and found.handler is HANDLERS[type(remedy)]


@pytest.mark.parametrize("remedy", [ChooseModel(), ChooseProvider(), ChooseMaxTokens()])
def test_a_hinted_option_is_one_ask_reads(remedy: Remedy) -> None:
    option = COMMAND_HINTS.command(remedy)
    parsed = parse_flags(f"{option} 7 why?", ASK_FLAGS, usage="")
    assert parsed.flags and parsed.text == "why?"


def _renamed(table: tuple[ChatCommand, ...]) -> tuple[ChatCommand, ...]:
    """``/byok`` as ``/keyring``, its ``add`` as ``new`` and ``limit`` as ``cap``."""
    subs = {"add": "new", "limit": "cap"}

    def sub(row: Subcommand) -> Subcommand:
        return replace(row, name=subs.get(row.name, row.name))

    return tuple(
        replace(c, name="keyring", subcommands=tuple(map(sub, c.subcommands)))
        if c.name == "byok"
        else c
        for c in table
    )


def test_renaming_a_command_in_the_table_renames_it_in_every_hint() -> None:
    flags = tuple(replace(f, name="llm") if f.name == "model" else f for f in ASK_FLAGS)
    hints = CommandHints(_renamed(COMMAND_TABLE), flags)
    assert hints.remedy_text(AddKey("xai")) == "`/keyring new xai`"
    assert hints.remedy_text(RemoveLimit("xai")) == "`/keyring cap xai off`"
    assert hints.remedy_text(CheckKey("xai")) == "`/keyring test xai`"
    assert hints.remedy_text(ChooseModel()) == "`--llm`"
    assert hints.error_text(NoKeyError("xai")) == (
        "You have no xai key yet. Add one with `/keyring new xai` (it asks for the key privately)."
    )
    spend = SpendLimitError("xai", Decimal(5), Decimal(5))
    assert "Raise it with `/keyring cap xai <usd>`" in hints.error_text(spend)


def test_a_remedy_no_command_carries_out_is_an_error_not_a_silent_hint() -> None:
    with pytest.raises(LookupError, match="AddKey"):
        CommandHints().command(AddKey("xai"))
    without_add = tuple(
        replace(c, subcommands=tuple(s for s in c.subcommands if s.name != "add"))
        for c in COMMAND_TABLE
    )
    with pytest.raises(LookupError):
        CommandHints(without_add, ASK_FLAGS).error_text(NoKeyError("xai"))
    assert CommandHints().empty and not COMMAND_HINTS.empty


def test_an_error_reads_as_its_explanation_then_its_advice() -> None:
    error = ByokError("x", explanation="It broke.", advice=("Run ", AddKey("xai"), " now."))
    assert error.remedies == (AddKey("xai"),)
    assert COMMAND_HINTS.advice_text(error.advice) == "Run `/byok add xai` now."
    assert COMMAND_HINTS.error_text(error) == "It broke. Run `/byok add xai` now."
    assert COMMAND_HINTS.error_text(ByokError("x", explanation="Just this.")) == "Just this."
    assert COMMAND_HINTS.error_text(ByokError("for logs")) == "for logs"


def test_the_provider_is_named_in_the_text_and_typed_by_its_id_in_the_command() -> None:
    error = InvalidKeyError("xai")
    error.name_provider("xAI Grok")
    assert COMMAND_HINTS.error_text(error) == (
        "Your xAI Grok key was refused as invalid. Create a new key in the xAI Grok console "
        "and replace it with `/byok add xai`."
    )
    assert error.remedies == (AddKey("xai"),)


def test_an_errors_remedies_say_what_to_do_without_words() -> None:
    own = SpendLimitError("openai", Decimal(5), Decimal(5))
    shared = SpendLimitError("openai", Decimal(5), Decimal(5), operator_key=True)
    assert own.remedies == (RaiseLimit("openai"), ChooseMaxTokens())
    assert shared.remedies == (AddKey("openai"), ChooseMaxTokens())
    assert UnpricedModelError("openai", "m").remedies == (
        ChooseModel(),
        SetPreferredModel("openai"),
        RemoveLimit("openai"),
    )
    assert InvalidKeyError("openai", "no_permission").remedies == (
        ChooseModel(),
        AddKey("openai"),
    )
    assert ProviderUnavailableError("openai", "x").remedies == (ChooseProvider(),)


def test_an_operator_endpoint_asks_for_no_key_of_the_users() -> None:
    error = as_operator_endpoint(InvalidKeyError("local"))
    assert error.remedies == ()
    assert COMMAND_HINTS.error_text(error) == (
        "The operator's endpoint `local` refused the request as unauthorised — tell your bot "
        "operator."
    )


def test_the_dispatcher_gives_handlers_the_tables_hints(chat: Chat) -> None:
    assert chat.dispatcher.ctx.hints is COMMAND_HINTS


def test_a_flag_names_the_remedy_it_carries_out() -> None:
    by_name: dict[str, Flag] = {flag.name: flag for flag in ASK_FLAGS}
    assert by_name["model"].remedy is ChooseModel
    assert by_name["temperature"].remedy is None
