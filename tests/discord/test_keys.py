"""Keys: entered in a modal seen by no one else, never echoed, never logged, never sent on.

Every canary is built at run time. After each test the canary must be absent from
every call the bot made to Discord and from every log line, at DEBUG level.
"""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal

import pytest

from tests.discord.conftest import DiscordRig, MakeDiscord, poll, user_ref
from tests.fakes.discord_events import BOB, CHANNEL_ID
from tests.fakes.loopback import Fault


def canary() -> str:
    return "sk-canary-" + secrets.token_hex(16)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_nowhere(discord: DiscordRig, logs: pytest.LogCaptureFixture, key: str) -> None:
    assert key not in discord.everything_sent()
    assert key[-12:] not in discord.everything_sent()
    for record in logs.records:
        assert key not in record.getMessage()
        assert key not in (record.exc_text or "")


async def test_byok_add_opens_a_modal_as_the_first_response(discord: DiscordRig) -> None:
    payload = discord.events.command("byok", [discord.events.sub("add", provider="openai")])
    await discord.interact(payload)
    [callback] = discord.callbacks(payload)
    assert callback["type"] == 9
    modal = callback["data"]
    assert modal["title"] == "Add your openai API key"
    labels = [row["label"] for row in modal["components"]]
    assert labels == ["API key", "Label (optional)", "Monthly limit (optional)"]
    assert all(row["type"] == 18 and row["component"]["type"] == 4 for row in modal["components"])
    assert modal["components"][0]["component"]["required"] is True


async def test_a_key_from_the_modal_is_validated_stored_and_never_echoed(
    discord: DiscordRig, logs: pytest.LogCaptureFixture
) -> None:
    key = discord.engine.fakes["openai"].add_key(canary())
    submit = await discord.add_key(
        "openai", key, **{"Label (optional)": "work", "Monthly limit (optional)": "20"}
    )
    assert discord.callbacks(submit) == [{"type": 5, "data": {"flags": 64}}]
    [shown] = discord.fake.responses(submit["id"])
    assert shown["flags"] & 64
    assert shown["embeds"][0]["title"] == "Key added"
    assert f"…{key[-4:]}" in shown["embeds"][0]["description"]
    [status] = await discord.engine.service(user_ref()).get_user_api_keys()
    assert (status.key.provider_id, status.key.label) == ("openai", "work")
    assert status.key.monthly_limit == Decimal(20)
    assert_nowhere(discord, logs, key)


async def test_a_refused_key_is_not_stored_and_not_repeated(
    discord: DiscordRig, logs: pytest.LogCaptureFixture
) -> None:
    key = canary()
    error = {
        "error": {
            "message": f"Incorrect API key provided: {key}.",
            "code": "invalid_api_key",
            "type": "invalid_request_error",
            "param": None,
        }
    }
    discord.engine.fakes["openai"].inject(Fault.http(401, error), path="/models")
    submit = await discord.add_key("openai", key)
    [shown] = discord.fake.responses(submit["id"])
    assert shown["embeds"][0]["title"] == "Key not stored"
    assert "refused" in shown["embeds"][0]["description"]
    assert await discord.engine.service(user_ref()).get_user_api_keys() == []
    assert_nowhere(discord, logs, key)


async def test_a_bad_limit_in_the_modal_is_explained(discord: DiscordRig) -> None:
    submit = await discord.add_key("openai", **{"Monthly limit (optional)": "lots"})
    [shown] = discord.fake.responses(submit["id"])
    assert "US dollars" in shown["embeds"][0]["description"]
    assert await discord.engine.service(user_ref()).get_user_api_keys() == []


async def test_only_the_user_who_opened_the_modal_may_submit_it(discord: DiscordRig) -> None:
    opened = discord.events.command("byok", [discord.events.sub("add", provider="openai")])
    await discord.interact(opened)
    modal = discord.callbacks(opened)[0]["data"]
    key = discord.engine.fakes["openai"].valid_key
    intruder = discord.events.modal_submit(modal, {"API key": key}, user=BOB)
    discord.adapter.client._connection.parse_interaction_create(intruder)
    answered = discord.fake.interaction(intruder["id"])
    # The modal's check refuses it before any handler of ours runs: wait on the fake.
    await poll(lambda: bool(answered.callbacks), "the intruder was answered")
    assert answered.callbacks[0]["data"]["content"] == "This form isn't yours."
    assert await discord.engine.service(user_ref(BOB)).get_user_api_keys() == []


async def test_a_key_form_submitted_after_a_restart_is_still_stored(
    make_discord: MakeDiscord, logs: pytest.LogCaptureFixture
) -> None:
    before = await make_discord()
    opened = before.events.command("byok", [before.events.sub("add", provider="openai")])
    await before.interact(opened)
    modal = before.callbacks(opened)[0]["data"]
    assert modal["custom_id"].startswith("byok_")
    await before.adapter.stop(grace_s=1.0)
    after = await make_discord()  # a new process: it never saw the form opened
    key = after.engine.fakes["openai"].add_key(canary())
    submit = after.events.modal_submit(
        modal, {"API key": key, "Label (optional)": "late", "Monthly limit (optional)": "5"}
    )
    await after.interact(submit)
    [shown] = after.fake.responses(submit["id"])
    assert shown["embeds"][0]["title"] == "Key added"
    [status] = await after.engine.service(user_ref()).get_user_api_keys()
    assert (status.key.provider_id, status.key.label) == ("openai", "late")
    assert status.key.monthly_limit == Decimal(5)
    assert_nowhere(after, logs, key)


async def test_a_form_this_process_cannot_place_asks_to_run_the_command_again(
    discord: DiscordRig, logs: pytest.LogCaptureFixture
) -> None:
    key = canary()
    # A form from the version before custom_ids said what they are: random hex.
    stale = {
        "custom_id": secrets.token_hex(16),
        "components": [{"type": 18, "label": "API key", "component": {"custom_id": "k"}}],
    }
    submit = discord.events.modal_submit(stale, {"API key": key})
    await discord.interact(submit)
    [answer] = discord.callbacks(submit)
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    assert answer["data"]["content"] == (
        "This form expired (the bot restarted); run `/byok add <provider>` again."
    )
    assert await discord.engine.service(user_ref()).get_user_api_keys() == []
    assert_nowhere(discord, logs, key)


async def test_a_key_pasted_in_a_channel_is_deleted_and_sent_nowhere(
    discord: DiscordRig, logs: pytest.LogCaptureFixture
) -> None:
    key = canary()
    message = discord.events.message(f"can you use my key {key} please", mention=True)
    await discord.post(message)
    assert discord.fake.requests_to(f"/channels/{CHANNEL_ID}/messages/{message['id']}", "DELETE")
    assert not any(discord.engine.fakes[p].requests for p in discord.engine.fakes)
    assert not discord.fake.from_bot(CHANNEL_ID)
    [warning] = discord.fake.from_bot(discord.fake.dm_channels[message["author"]["id"]])
    text = str(warning["embeds"])
    assert "Not sent" in text and "revoke it" in text and "deleted your message" in text
    assert_nowhere(discord, logs, key)


async def test_without_manage_messages_the_user_is_asked_to_delete_it(
    discord: DiscordRig, logs: pytest.LogCaptureFixture
) -> None:
    key = canary()
    message = discord.events.message(f"key: {key}", mention=True)
    discord.fake.forbid(f"/messages/{message['id']}")
    await discord.post(message)
    [warning] = discord.fake.from_bot(discord.fake.dm_channels[message["author"]["id"]])
    assert "delete it yourself" in str(warning["embeds"])
    assert any("could not be deleted" in r.getMessage() for r in logs.records)
    assert_nowhere(discord, logs, key)


async def test_a_key_sent_by_dm_with_byok_add_is_stored(
    discord: DiscordRig, logs: pytest.LogCaptureFixture
) -> None:
    key = discord.engine.fakes["anthropic"].add_key("sk-ant-canary-" + secrets.token_hex(16))
    await discord.post(discord.events.message(f"/byok add anthropic {key}", dm=True))
    [status] = await discord.engine.service(user_ref()).get_user_api_keys()
    assert status.key.provider_id == "anthropic"
    [answer] = discord.fake.from_bot(discord.fake.dm_channels[user_ref().user])
    assert "Key added" in str(answer["embeds"])
    assert_nowhere(discord, logs, key)


async def test_byok_add_in_a_dm_without_a_key_explains_how(discord: DiscordRig) -> None:
    await discord.post(discord.events.message("/byok add openai", dm=True))
    [answer] = discord.fake.from_bot(discord.fake.dm_channels[user_ref().user])
    assert "/byok add openai <key>" in str(answer["embeds"])
