"""Slack payloads of any shape, correctly signed, through the real ``/slack/events`` route.

Slash-command form bodies, interaction ``payload`` JSON (forms, App Home buttons, the
summarise shortcut) and Events API callbacks (mentions, DMs, App Home, the assistant) are
drawn shaped like Slack's, with any field missing or replaced by any JSON value. Each is
signed with the app's signing secret and posted to the bot's HTTP server; the property:
no 5xx, and once the work it started has finished, no ERROR record and no traceback in
the log. The pure parsers the listeners use are fuzzed directly too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from adapters.slack.commands import SLASH_COMMANDS
from adapters.slack.events import SHORTCUT_CALLBACK, unescape, with_thread_context
from adapters.slack.modals import KEY_CALLBACK, SUMMARIZE_CALLBACK
from adapters.slack.runtime import command_in
from bot.commands.ask import ASK_FLAGS, ASK_USAGE
from bot.grammar import CommandError, Parsed, parse_flags
from tests.fuzz.strategies import (
    MISSING,
    command_text,
    drop_missing,
    hostile_text,
    json_like,
    shaped,
    word,
)
from tests.slack.conftest import CHANNEL, TEAM, USER, MakeSlack, SlackRig, serve

FORM = "application/x-www-form-urlencoded"


@dataclass
class Endpoint:
    slack: SlackRig
    url: str
    session: aiohttp.ClientSession

    async def post(self, body: str, content_type: str) -> int:
        """POST ``body`` signed as Slack signs it; the HTTP status."""
        stamp = str(int(time.time()))
        verifier = SignatureVerifier(self.slack.signing_secret)
        headers = {
            "content-type": content_type,
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": str(verifier.generate_signature(timestamp=stamp, body=body)),
        }
        async with self.session.post(
            f"{self.url}/slack/events", data=body.encode(), headers=headers
        ) as response:
            await response.read()
            return response.status


@pytest.fixture
async def endpoint(
    make_slack: MakeSlack, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Endpoint]:
    caplog.set_level(logging.INFO)
    slack = await make_slack()
    async with serve(slack.adapter.routes()) as url, aiohttp.ClientSession() as session:
        yield Endpoint(slack, url, session)


# -- bodies shaped like Slack's ------------------------------------------------------------

_ids = st.one_of(
    st.sampled_from([USER, TEAM, CHANNEL, "D111", "G111", "W111", ""]),
    st.text(max_size=12),
)
_text = st.one_of(command_text(), hostile_text)
_ts = st.sampled_from(["1700000000.000100", "1700000000.000200"])


def bodies(response_url: str, api_url: str, *, junk: bool) -> st.SearchStrategy[tuple[str, str]]:
    """Signed-request bodies with hostile values; with ``junk``, fields may also be missing
    or any JSON value, and whole bodies may be anything."""

    def sh(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return shaped(strategy) if junk else strategy

    command = st.fixed_dictionaries(
        {
            "command": sh(st.one_of(st.sampled_from(SLASH_COMMANDS), word)),
            "text": sh(_text),
            "team_id": sh(st.just(TEAM)),
            "channel_id": sh(_ids),
            "channel_name": sh(st.sampled_from(["general", "directmessage", "privategroup"])),
            "user_id": sh(_ids),
            "user_name": sh(st.text(max_size=10)),
            "response_url": st.sampled_from([response_url, MISSING] if junk else [response_url]),
            "trigger_id": sh(st.text(max_size=10)),
            "api_app_id": st.just("A111"),
        }
    ).map(lambda f: urlencode({k: str(v) for k, v in f.items() if v is not MISSING}))
    element = st.fixed_dictionaries(
        {"type": sh(st.sampled_from(["plain_text_input", "static_select", "number_input"]))},
        optional={
            "value": sh(st.one_of(st.none(), _text)),
            "selected_option": sh(st.one_of(st.none(), st.fixed_dictionaries({"value": sh(word)}))),
        },
    )
    blocks = st.sampled_from(["provider", "key", "label", "limit", "models", "transcript"])
    values = st.dictionaries(blocks, sh(st.fixed_dictionaries({"value": sh(element)})))
    origin = st.fixed_dictionaries(
        {},
        optional={
            "channel": sh(_ids),
            "team": sh(_ids),
            "private": sh(st.booleans()),
            "home": sh(st.booleans()),
            "response_url": st.just(response_url),
        },
    ).map(lambda d: json.dumps(drop_missing(d)))
    view = st.fixed_dictionaries(
        {
            "id": sh(st.just("V111")),
            "type": sh(st.just("modal")),
            "callback_id": sh(st.sampled_from([KEY_CALLBACK, SUMMARIZE_CALLBACK])),
            "state": sh(st.fixed_dictionaries({"values": sh(values)})),
            "private_metadata": sh(st.one_of(origin, st.text(max_size=20)) if junk else origin),
            "hash": st.just("1.abc"),
        }
    )
    action = st.fixed_dictionaries(
        {
            "action_id": sh(
                st.one_of(
                    st.sampled_from(["home:add_key", "home:set:default", "home:set:fallback"]),
                    st.sampled_from(["home:set:max-tokens", "home:set:model:openai"]),
                    st.builds(lambda c: "home:run:" + c.replace(" ", ":"), _text),
                )
            ),
            "value": sh(_text),
            "selected_option": sh(st.fixed_dictionaries({"value": sh(word)})),
            "block_id": st.just("b"),
            "action_ts": st.just("1.1"),
        }
    )
    common = {
        "team": sh(st.fixed_dictionaries({"id": sh(st.just(TEAM))})),
        "user": sh(st.fixed_dictionaries({"id": sh(_ids)})),
        "api_app_id": st.just("A111"),
        "trigger_id": sh(st.just("1.2.3")),
    }
    file = st.fixed_dictionaries(
        {"id": st.just("F111"), "name": sh(_text), "size": sh(st.integers(0, 2**40))},
        optional={
            "filetype": sh(st.sampled_from(["text", "vtt", "srt", "pdf"])),
            "url_private": sh(st.sampled_from([api_url + "files/x.txt", "https://evil.test/x"])),
        },
    )
    files = sh(st.lists(file, max_size=2) if not junk else st.lists(json_like, max_size=2) | st.lists(file, max_size=2))  # fmt: skip
    message = st.fixed_dictionaries(
        {"ts": sh(_ts)},
        optional={"text": sh(_text), "thread_ts": sh(_ts), "files": files},
    )  # fmt: skip
    interaction = st.one_of(
        st.fixed_dictionaries({**common, "type": st.just("view_submission"), "view": sh(view)}),
        st.fixed_dictionaries(
            {
                **common,
                "type": st.just("block_actions"),
                "actions": sh(st.lists(action, min_size=1, max_size=2)),
                "container": st.just({"type": "view", "view_id": "VHOME"}),
                "view": st.just({"id": "VHOME", "type": "home"}),
            }
        ),
        st.fixed_dictionaries(
            {
                **common,
                "type": st.just("message_action"),
                "callback_id": sh(st.just(SHORTCUT_CALLBACK)),
                "channel": sh(st.fixed_dictionaries({"id": sh(_ids)})),
                "message": sh(message),
                "response_url": st.just(response_url),
            }
        ),
    ).map(drop_missing)
    payload = st.one_of(interaction.map(json.dumps), st.text(max_size=30)) if junk else interaction.map(json.dumps)  # fmt: skip
    event = st.fixed_dictionaries(
        {
            "type": sh(st.sampled_from(["app_mention", "message", "app_home_opened"])),
            "user": sh(_ids),
            "channel": sh(_ids),
            "ts": sh(_ts),
        },
        optional={
            "channel_type": sh(st.sampled_from(["im", "channel", "mpim"])),
            "text": sh(st.one_of(_text, st.builds(lambda t: f"<@UBOT> {t}", _text))),
            "thread_ts": sh(_ts),
            "subtype": sh(st.sampled_from(["file_share", "bot_message", "message_changed"])),
            "tab": sh(st.sampled_from(["home", "messages"])),
            "files": files,
        },
    )
    callback = st.fixed_dictionaries(
        {
            "type": sh(st.just("event_callback")),
            "team_id": sh(st.just(TEAM)),
            "api_app_id": st.just("A111"),
            "event_id": st.just("Ev1"),
            "event_time": st.just(1),
            "event": sh(event),
        }
    ).map(drop_missing)
    kinds = [
        st.tuples(command, st.just(FORM)),
        st.tuples(payload.map(lambda p: urlencode({"payload": p})), st.just(FORM)),
        st.tuples(callback.map(json.dumps), st.just("application/json")),
    ]
    if junk:
        kinds.append(st.tuples(json_like.map(json.dumps), st.just("application/json")))
        kinds.append(st.tuples(st.text(max_size=40), st.sampled_from([FORM, "application/json"])))
    return st.one_of(*kinds)


# -- the properties ----------------------------------------------------------------------------

#: Signed bodies that are not what Slack sends: a JSON body or an interaction payload that
#: is not an object, and payloads whose fields are missing or of another type.
MALFORMED = (
    ("null", "application/json"),
    (urlencode({"payload": ""}), FORM),
    (
        urlencode({"payload": json.dumps({
            "type": "message_action", "callback_id": SHORTCUT_CALLBACK, "team": {"id": TEAM},
            "user": {"id": USER}, "channel": {"id": CHANNEL}, "message": True,
        })}),
        FORM,
    ),
    (
        urlencode({"payload": json.dumps({
            "type": "view_submission", "team": {"id": TEAM}, "user": {"id": USER},
            "view": {"callback_id": KEY_CALLBACK, "state": None},
        })}),
        FORM,
    ),
)  # fmt: skip


#: An App Home "run" button whose value is blank (only Slack's servers or someone with the
#: signing secret can send one): adapters/slack/home.py names the work by the command's
#: first word, and there is none (IndexError, HTTP 500).
BLANK_BUTTON = urlencode({"payload": json.dumps({
    "type": "block_actions", "team": {"id": TEAM}, "user": {"id": USER}, "trigger_id": "4.5.6",
    "container": {"type": "view", "view_id": "VHOME"}, "view": {"id": "VHOME", "type": "home"},
    "actions": [{"action_id": "home:run:", "value": " ", "block_id": "b", "action_ts": "1.1"}],
})})  # fmt: skip


#: A shortcut on a message whose ``files`` holds something other than objects:
#: adapters/slack/files.py ``is_transcript`` calls ``.get`` on it (AttributeError, an
#: ERROR traceback and an incident message to the user).
ODD_FILES = urlencode({"payload": json.dumps({
    "type": "message_action", "callback_id": SHORTCUT_CALLBACK, "team": {"id": TEAM},
    "user": {"id": USER}, "channel": {"id": CHANNEL}, "trigger_id": "1.2.3",
    "message": {"ts": "1.1", "files": [0]},
})})  # fmt: skip


#: Found by the fuzz (fixed since): bodies that once crashed the app.
FOUND = (BLANK_BUTTON, ODD_FILES)


def problems(caplog: pytest.LogCaptureFixture, since: int) -> list[str]:
    """ERROR records and tracebacks logged since record ``since``."""
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        + (f" ({type(r.exc_info[1]).__name__})" if r.exc_info else "")
        for r in caplog.records[since:]
        if r.levelno >= logging.ERROR or r.exc_info
    ]


async def crashes(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> list[str]:
    """Post ``body``, let the work it started finish: a 5xx, ERROR records, tracebacks."""
    logged = len(caplog.records)
    status = await endpoint.post(body, content_type)
    await endpoint.slack.settle()
    return ([f"HTTP {status}"] if status >= 500 else []) + problems(caplog, logged)


@given(st.data())
async def test_any_signed_slack_body_is_answered_without_a_crash(
    endpoint: Endpoint,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    junk = data.draw(st.booleans(), label="junk")
    response_url = endpoint.slack.fake.response_url()
    api_url = endpoint.slack.fake.api_url
    body, content_type = data.draw(bodies(response_url, api_url, junk=junk), label="body")
    found = await crashes(endpoint, caplog, body, content_type)
    event(f"{'junk' if junk else 'well-formed'}: {found[0] if found else 'fine'}")
    assert not found


@pytest.mark.parametrize("body", FOUND, ids=["blank-button", "odd-files"])
async def test_found_bodies_are_answered_quietly(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    assert not await crashes(endpoint, caplog, body, FORM)


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
async def test_found_malformed_signed_bodies_are_refused_quietly(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    assert not await crashes(endpoint, caplog, body, content_type)


# -- the pure parsers -------------------------------------------------------------------------


@given(hostile_text)
@example("/usage week")
@example("/ ask")
def test_a_dm_line_is_a_command_and_its_text(text: str) -> None:
    command, rest = command_in(text)
    assert command and rest == rest.strip()
    assert unescape(text).count("&") <= text.count("&")


@given(command_text(), st.lists(hostile_text, max_size=3))
@example("--max-tokens 5 max", ["earlier"])
def test_thread_context_keeps_the_question_flags(question: str, earlier: list[str]) -> None:
    try:
        before = parse_flags(question, ASK_FLAGS, usage=ASK_USAGE)
    except CommandError:
        return  # the dispatcher explains the mistake; the context is not added
    check_thread_context(question, earlier, before)


def check_thread_context(question: str, earlier: list[str], before: Parsed) -> None:
    combined = with_thread_context(question, earlier)
    after = parse_flags(combined, ASK_FLAGS, usage=ASK_USAGE)
    assert after.flags == before.flags
    assert before.text in after.text


@pytest.mark.parametrize("question", ["--max-tokens 5 max", "--model o o --provider openai"])
def test_found_thread_context_keeps_flags_when_the_text_repeats_them(question: str) -> None:
    before = parse_flags(question, ASK_FLAGS, usage=ASK_USAGE)
    check_thread_context(question, ["earlier"], before)


@pytest.mark.parametrize("flag", ["--model", "--max-tokens", "--label"])
def test_found_a_flag_left_without_its_value_keeps_the_flags_as_they_were(flag: str) -> None:
    question = f"add add add --provider=nan {flag} "
    check_thread_context(question, [""], parse_flags(question, ASK_FLAGS, usage=ASK_USAGE))
