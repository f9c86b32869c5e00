"""Any command line through the real dispatcher: a reply, never a crash, nothing counted.

The dispatcher runs over a real engine (SQLite in a temporary folder, the fake providers
on loopback), as the console and every adapter call it. Each example is a fresh user who
may hold a key (with or without a monthly limit) and types one to three command lines;
a ``/byok add`` that asks for the key privately gets a key of any shape, as a user
would paste it. "Something went wrong" is the unexpected-error boundary: seeing it is a
bug. A command that reached no provider must leave no usage row behind.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, replace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.commands.table import COMMANDS_BY_NAME
from bot.invocation import Invocation
from bot.reply import Reply, collect
from byok.db.tables import UsageEvent
from byok.types import UserRef
from tests.bot.conftest import Chat
from tests.engine.conftest import Rig
from tests.fuzz.strategies import ODD_CHARACTERS, command_text, hostile_text, word

UNEXPECTED = "Something went wrong"
_users = itertools.count(1)


@dataclass(frozen=True)
class Line:
    command: str
    text: str
    private: bool = True


_commands = st.one_of(
    st.sampled_from(["ask", "byok", "summarize", "usage", "help", "home"]),
    st.sampled_from(["ASK", "summarise", "summary", "keys", "uasge", "", "quit"]),
    word,
)
_byok_text = st.builds(
    lambda sub, rest: f"{sub} {rest}",
    st.sampled_from(
        [name for sub in COMMANDS_BY_NAME["byok"].subcommands for name in (sub.name, *sub.aliases)]
    ),
    command_text(max_words=5),
)
lines = st.builds(
    Line,
    _commands,
    st.one_of(command_text(), _byok_text, hostile_text),
    st.booleans(),
)
#: What a user pastes when asked for a key: the real one, the real one spoiled, or junk.
_pasted_keys = st.one_of(
    st.just("VALID"),
    st.builds(lambda c: "VALID" + c, st.sampled_from(ODD_CHARACTERS)),
    st.builds(lambda c: c + "VALID", st.sampled_from(ODD_CHARACTERS)),
    hostile_text,
)
_setups = st.sampled_from(["no key", "openai key", "openai key limited to $1"])


async def usage_rows(rig: Rig) -> int:
    await rig.engine.ledger.flush()
    async with rig.engine.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(UsageEvent)) or 0)


def provider_requests(rig: Rig) -> int:
    return sum(len(rig.fakes[p].requests) for p in rig.fakes)


async def say(chat: Chat, line: Line, pasted: str) -> tuple[Reply, str]:
    """The reply to ``line``, and the key pasted if the command asked for one."""
    base = chat.invocation("/help", private=line.private)
    inv: Invocation = replace(base, command=line.command, text=line.text)
    _, reply = await collect(chat.dispatcher.run(inv))
    key = ""
    if reply.secret_request is not None:
        key = pasted.replace("VALID", chat.rig.fakes.key(reply.secret_request.provider_id))
        reply = await chat.dispatcher.submit_key(inv, reply.secret_request, key)
    return reply, key


async def fresh_user(chat: Chat, setup: str) -> Chat:
    user = f"UFUZZ{next(_users)}"
    if setup != "no key":
        limit = "1" if "limited" in setup else None
        await chat.rig.add_key("openai", UserRef(chat.platform, chat.workspace, user), limit)
    return Chat(chat.dispatcher, chat.rig, user=user)


@given(_setups, st.lists(st.tuples(lines, _pasted_keys), min_size=1, max_size=3))
@example("openai key", [(Line("ask", "--temperature inf hi"), "")])
@example("openai key", [(Line("ask", "--max-tokens 99999999999999999999 hi"), "")])
@example("no key", [(Line("byok", "limit openai 1e309"), "")])
@example("no key", [(Line("byok", "prefs max-tokens 1e20"), "")])
@example("no key", [(Line("byok", "add openai"), "VALID\u200b")])
async def test_every_command_line_gets_a_reply_and_refusals_count_nothing(
    chat: Chat,
    caplog: pytest.LogCaptureFixture,
    setup: str,
    said: list[tuple[Line, str]],
) -> None:
    caplog.set_level(logging.INFO)
    user = await fresh_user(chat, setup)
    for line, pasted in said:
        rows, requests = await usage_rows(chat.rig), provider_requests(chat.rig)
        logged = len(caplog.records)
        reply, _ = await say(user, line, pasted)
        assert isinstance(reply, Reply)
        text = reply.plain_text()
        assert text.strip(), f"an empty reply to {line}"
        assert UNEXPECTED not in text, f"{line} (key {pasted!r}) hit the error boundary"
        troubles = [r for r in caplog.records[logged:] if r.levelno >= logging.ERROR or r.exc_info]
        assert not troubles, f"{line} logged {troubles[0].getMessage()}"
        if provider_requests(chat.rig) == requests:
            assert await usage_rows(chat.rig) == rows, f"{line} counted usage with no request"


@pytest.mark.parametrize("spoiler", ["\u200b", "é", "\xa0"])
async def test_found_a_key_with_a_non_ascii_character_is_refused_clearly(
    chat: Chat,
    spoiler: str,
) -> None:
    reply, _ = await say(chat, Line("byok", "add openai"), "VALID" + spoiler)
    assert UNEXPECTED not in reply.plain_text()
    if reply.tone == "error":  # refused clearly; a trailing space may also be trimmed
        assert "Nothing was stored" in reply.plain_text()
