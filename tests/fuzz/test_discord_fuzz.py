"""Discord interactions and messages of any content, through discord.py's own parsers.

Application commands with any option values Discord would pass on (strings of any
characters up to its lengths, numbers in the declared ranges, the declared choices),
the key and transcript modals submitted with anything typed (or a ``custom_id`` the bot
never made, or another user's form), and ``MESSAGE_CREATE`` addressed to the bot (DMs
and mentions) with any text. Each example is a fresh user. The property: the event is
fully handled and answered, nothing is logged at ERROR or with a traceback, the bot
never says "Something went wrong", and the adapter warns of nothing (Discord refused none of what it sent).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from adapters.discord.interactions import command_text
from adapters.discord.modals import PASTE_FORM, KeyForm, form_values
from bot.commands.prefs import PREFERENCES
from bot.commands.table import COMMAND_TABLE
from tests.discord.conftest import DiscordRig, MakeDiscord
from tests.fuzz.strategies import ODD_CHARACTERS, hostile_text, json_like, word

UNEXPECTED = b"Something went wrong"
PROVIDERS = ("openai", "anthropic", "google", "xai", "openrouter")
_users = itertools.count(1_500_000_000_000_000_001)


def fresh_user() -> dict[str, Any]:
    user_id = str(next(_users))
    return {
        "id": user_id,
        "username": f"user{user_id[-4:]}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
    }


@pytest.fixture
async def discord(make_discord: MakeDiscord, caplog: pytest.LogCaptureFixture) -> DiscordRig:
    caplog.set_level(logging.INFO)
    return await make_discord()


def _capped(limit: int) -> st.SearchStrategy[str]:
    """Any text Discord would pass on in a string of at most ``limit`` characters."""
    return st.one_of(hostile_text, word).map(lambda t: t[:limit] if t.strip() else "?")


# -- what a user does, as one step ------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A slash command: name, subcommand (for /byok) and options, as Discord sends them."""

    name: str
    sub: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    dm: bool = False


@dataclass(frozen=True)
class KeySubmit:
    """``/byok add <provider>``, then the key modal submitted with what was typed."""

    provider: str
    key: str
    label: str
    limit: str
    dm: bool = False


@dataclass(frozen=True)
class PasteSubmit:
    """``/summarize`` without a file, then the transcript modal submitted."""

    parts: tuple[str, ...]
    private: bool


@dataclass(frozen=True)
class StrayForm:
    """A modal submit whose ``custom_id`` the bot may never have made, or another user's."""

    custom_id: str
    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Message:
    content: str
    dm: bool


def _options(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[tuple[str, Any], ...]]:
    """Some of the optional options, each with a drawn value."""
    return st.fixed_dictionaries({}, optional=fields).map(lambda d: tuple(d.items()))


_provider = st.sampled_from(PROVIDERS)
_ask = st.builds(
    lambda required, extra, dm: Command("ask", None, (("prompt", required), *extra), dm),
    _capped(4000),
    _options(
        provider=_provider,
        model=_capped(100),
        max_tokens=st.integers(1, 200_000),
        temperature=st.floats(0.0, 2.0),
        private=st.booleans(),
    ),
    st.booleans(),
)
_simple = st.one_of(
    st.builds(lambda p: Command("usage", None, (("period", p),)), st.sampled_from(["week", "month"])),
    st.builds(lambda c: Command("help", None, (("command", c),)), st.sampled_from([c.name for c in COMMAND_TABLE])),
    st.builds(lambda o: Command("summarize", None, o), _options(provider=_provider, model=_capped(100))),
)  # fmt: skip
_byok = st.one_of(
    st.builds(
        lambda sub, p: Command("byok", sub, (("provider", p),)),
        st.sampled_from(["remove", "test", "enable", "disable"]),
        _provider,
    ),
    st.builds(
        lambda sub, p: Command("byok", sub, (("provider", p),)),
        st.sampled_from(["default", "fallback"]),
        st.sampled_from([*PROVIDERS, "off"]),
    ),
    st.just(Command("byok", "list")),
    st.builds(
        lambda p, usd: Command("byok", "limit", (("provider", p), ("usd", usd))),
        _provider,
        _capped(16),
    ),
    st.builds(
        lambda p, extra: Command("byok", "models", (("provider", p), *extra)),
        _provider,
        _options(models=_capped(200)),
    ),
    st.builds(
        lambda o: Command("byok", "prefs", o),
        _options(
            setting=st.sampled_from([*(p.name for p in PREFERENCES), "model"]),
            value=_capped(100),
        ),
    ),
)
#: What a user pastes as a key: the real one, the real one spoiled, or junk.
_pasted_key = st.one_of(
    st.just("VALID"),
    st.builds(lambda c: "VALID" + c, st.sampled_from(ODD_CHARACTERS)),
    _capped(512).map(lambda t: t.ljust(8, "x")),
)
_key_submit = st.builds(
    KeySubmit, _provider, _pasted_key, _capped(64) | st.just(""), _capped(16) | st.just(""),
    st.booleans(),
)  # fmt: skip
_paste_submit = st.builds(
    PasteSubmit,
    st.tuples(_capped(4000), st.just("") | _capped(4000), st.just("") | _capped(4000)),
    st.booleans(),
)
_stray_form = st.builds(
    StrayForm,
    st.one_of(
        st.builds(lambda p, o: f"byok_key:{p}:{o}", st.one_of(_provider, word), st.sampled_from(["1", "x", ""])),
        st.builds(lambda t: f"{PASTE_FORM}:{t}", st.text(max_size=16)),
        st.text(max_size=100),
    ),
    st.lists(st.tuples(st.sampled_from(["key", "label", "limit", "part0", "x"]), _capped(100)), max_size=4).map(tuple),
)  # fmt: skip
_message = st.builds(Message, _capped(2000), st.booleans())
steps = st.one_of(_ask, _simple, _byok, _key_submit, _paste_submit, _stray_form, _message)


# -- running a step ---------------------------------------------------------------------------


def _option_payload(name: str, value: Any) -> dict[str, Any]:
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3  # fmt: skip
    return {"name": name, "type": kind, "value": value}


async def run_command(discord: DiscordRig, step: Command, user: dict[str, Any]) -> dict[str, Any]:
    options = [_option_payload(n, v) for n, v in step.options]
    if step.sub is not None:
        options = [{"name": step.sub, "type": 1, "options": options}]
    payload = discord.events.command(step.name, options, user=user, dm=step.dm)
    await discord.interact(payload)
    return payload


def _modal(custom_id: str, labels: list[tuple[str, str]]) -> dict[str, Any]:
    """A modal's layout as the type 9 callback carries it (label, input custom_id)."""
    return {
        "custom_id": custom_id,
        "components": [
            {"type": 18, "label": label, "component": {"custom_id": cid}} for label, cid in labels
        ],
    }


async def run(discord: DiscordRig, step: Any, user: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliver ``step`` as ``user`` and wait for it to be handled; the interactions made."""
    events = discord.events
    if isinstance(step, Command):
        return [await run_command(discord, step, user)]
    if isinstance(step, KeySubmit):
        opened = await run_command(discord, Command("byok", "add", (("provider", step.provider),), step.dm), user)  # fmt: skip
        [callback] = discord.callbacks(opened)
        if callback["type"] != 9:
            return [opened]
        key = step.key.replace("VALID", discord.engine.fakes.key(step.provider))
        values = {"API key": key, "Label (optional)": step.label, "Monthly limit (optional)": step.limit}  # fmt: skip
        submit = events.modal_submit(callback["data"], values, user=user, dm=step.dm)
        await discord.interact(submit)
        return [opened, submit]
    if isinstance(step, PasteSubmit):
        private = (("private", step.private),)
        opened = await run_command(discord, Command("summarize", None, private), user)
        [callback] = discord.callbacks(opened)
        values = {f"part{i}": part for i, part in enumerate(step.parts)}
        layout = _modal(callback["data"]["custom_id"], [(k, k) for k in values])
        submit = events.modal_submit(layout, values, user=user)
        await discord.interact(submit)
        return [opened, submit]
    if isinstance(step, StrayForm):
        values = dict(step.values)
        layout = _modal(step.custom_id, [(k, k) for k in values])
        submit = events.modal_submit(layout, values, user=user)
        await discord.interact(submit)
        return [submit]
    assert isinstance(step, Message)
    message = events.message(step.content, user=user, dm=step.dm, mention=not step.dm)
    await discord.post(message)
    return []


def problems(caplog: pytest.LogCaptureFixture, since: int) -> list[str]:
    """Since record ``since``: ERROR records, tracebacks, and the adapter's warnings (Discord
    refused what the bot sent, an interaction expired unanswered)."""
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        + (f" ({type(r.exc_info[1]).__name__})" if r.exc_info else "")
        for r in caplog.records[since:]
        if r.levelno >= logging.ERROR
        or r.exc_info
        or (r.levelno >= logging.WARNING and r.name.startswith("adapters.discord"))
    ]


@given(st.lists(steps, min_size=1, max_size=3))
@example([Command("ask", None, (("prompt", "--temperature nan hi"),))])
@example([Message("/byok add openai sk-\u200b1234567890", dm=True)])
@example([StrayForm("byok_key:nosuchprovider:1", (("key", "x" * 20),))])
async def test_any_interaction_or_message_is_handled_and_answered(
    discord: DiscordRig, caplog: pytest.LogCaptureFixture, said: list[Any]
) -> None:
    user = fresh_user()
    for step in said:
        logged, sent = len(caplog.records), len(discord.fake.requests)
        for payload in await run(discord, step, user):
            assert discord.callbacks(payload), f"{step}: interaction never answered"
        event(type(step).__name__)
        assert not problems(caplog, logged), step
        for request in discord.fake.requests[sent:]:
            assert UNEXPECTED not in request.body, f"{step} hit the error boundary"


# -- the pure parsers -------------------------------------------------------------------------


@given(st.text(max_size=120))
@example("byok_key:openai:1400000000000000001")
@example("byok_key::1")
@example("byok_key:a:b:12")
def test_a_key_form_custom_id_parses_or_is_not_a_key_form(custom_id: str) -> None:
    form = KeyForm.parse(custom_id)
    if form is not None:
        assert form.provider_id and form.owner >= 0
        assert KeyForm.parse(form.custom_id) == form


@given(st.sampled_from(PROVIDERS), st.integers(0, 2**64))
def test_a_key_form_custom_id_round_trips(provider: str, owner: int) -> None:
    assert KeyForm.parse(KeyForm(provider, owner).custom_id) == KeyForm(provider, owner)


_components = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from([4, 3, 2]), "custom_id": word},
        optional={"value": st.one_of(st.none(), hostile_text)},
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"type": st.just(1), "components": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"type": st.just(18), "component": inner}),
    ),
    max_leaves=6,
)


@given(
    st.one_of(st.none(), st.fixed_dictionaries({"components": st.lists(_components, max_size=4)}))
)
def test_modal_values_are_read_from_any_layout(data: dict[str, Any] | None) -> None:
    values = form_values(data)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())


@given(
    st.lists(st.one_of(st.none(), word, hostile_text), max_size=4),
    st.dictionaries(word, json_like, max_size=4),
)
def test_command_text_is_in_the_grammar(words: list[str | None], flags: dict[str, Any]) -> None:
    text = command_text(*words, flags=flags)
    assert isinstance(text, str)
