"""``/summarize``: from an attached transcript or pasted into a modal, answered as an embed."""

from __future__ import annotations

import json
import logging
import secrets

import pytest

from tests.discord.conftest import DiscordRig, MakeDiscord
from tests.fakes.fake_discord import APP_ID
from tests.fakes.llm_script import Reply as LLMReply

SUMMARY = {
    "overview": "The team planned the launch.",
    "decisions": ["Ship on Friday"],
    "action_items": [{"task": "Update the docs", "owner": "Bob", "due": "Thursday"}],
    "open_questions": ["Which price for the Team plan?"],
}
VTT = (
    b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Alice>We ship on Friday.\n\n"
    b"00:00:05.000 --> 00:00:08.000\n<v Bob>I'll update the docs by Thursday.\n"
)


@pytest.fixture
async def ready(discord: DiscordRig) -> DiscordRig:
    await discord.add_key("openai")
    discord.engine.fakes["openai"].default_reply = LLMReply(text=json.dumps(SUMMARY))
    return discord


def _fields(message: dict[str, object]) -> dict[str, str]:
    embed = message["embeds"][0]  # type: ignore[index]
    return {f["name"]: f["value"] for f in embed["fields"]}


async def test_an_attached_transcript_is_summarized_in_an_embed(ready: DiscordRig) -> None:
    vtt = ready.fake.host_file("standup.vtt", VTT)
    payload = ready.events.command("summarize", attachment=vtt)
    await ready.interact(payload)
    assert ready.callbacks(payload) == [{"type": 5}]
    assert ready.fake.requests_to(f"/attachments/{vtt['id']}/standup.vtt", "GET")
    [shown] = ready.fake.responses(payload["id"])
    assert shown["embeds"][0]["title"] == "Meeting summary"
    fields = _fields(shown)
    assert fields["Overview"] == "The team planned the launch."
    assert fields["Decisions"] == "• Ship on Friday"
    assert fields["Action items"] == "• Update the docs — Bob, due Thursday"
    assert fields["Open questions"] == "• Which price for the Team plan?"
    prompt = ready.engine.fakes["openai"].requests_to("/chat/completions")[-1].json()
    assert "We ship on Friday." in json.dumps(prompt)


async def test_without_a_file_a_modal_takes_the_pasted_text(ready: DiscordRig) -> None:
    payload = ready.events.command("summarize", ready.events.options(private=True))
    await ready.interact(payload)
    [callback] = ready.callbacks(payload)
    assert callback["type"] == 9
    modal = callback["data"]
    assert [row["component"]["style"] for row in modal["components"]] == [2, 2, 2]
    submit = ready.events.modal_submit(
        modal,
        {
            "Transcript": "Alice: We ship on Friday.",
            "Transcript, continued (2)": "Bob: I'll update the docs by Thursday.",
        },
    )
    await ready.interact(submit)
    assert ready.callbacks(submit) == [{"type": 5, "data": {"flags": 64}}]
    [shown] = ready.fake.responses(submit["id"])
    assert shown["flags"] & 64 and "Overview" in _fields(shown)
    prompt = json.dumps(ready.engine.fakes["openai"].requests_to("/chat/completions")[-1].json())
    assert "We ship on Friday." in prompt and "update the docs by Thursday" in prompt


async def test_a_pasted_transcript_from_before_a_restart_asks_to_run_summarize_again(
    make_discord: MakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = await make_discord()
    opened = before.events.command("summarize")
    await before.interact(opened)
    modal = before.callbacks(opened)[0]["data"]
    await before.adapter.stop(grace_s=1.0)
    after = await make_discord()
    secret = "Carol: the merger closes on the 3rd " + secrets.token_hex(8)
    submit = after.events.modal_submit(modal, {"Transcript": secret})
    await after.interact(submit)
    [answer] = after.callbacks(submit)
    assert answer["data"]["content"] == (
        "This form expired (the bot restarted); run `/summarize` again."
    )
    assert answer["data"]["flags"] & 64
    assert secret not in after.everything_sent()
    assert all(secret not in r.getMessage() for r in caplog.records)


async def test_a_long_transcript_shows_progress_while_it_is_summarized(
    ready: DiscordRig,
) -> None:
    lines = [
        f"Speaker{i % 3}: Item {i} needs a decision about the rollout plan." * 3 for i in range(100)
    ]
    vtt = ready.fake.host_file("long.txt", "\n".join(lines).encode())
    payload = ready.events.command("summarize", attachment=vtt)
    await ready.interact(payload)
    edits = [
        r.json().get("content") or ""
        for r in ready.fake.requests_to(
            f"/webhooks/{APP_ID}/{payload['token']}/messages/@original", "PATCH"
        )
    ]
    assert any("⏳ Summarising part " in e for e in edits)  # newer statuses may replace older
    assert ready.fake.responses(payload["id"])[0]["embeds"][0]["title"] == "Meeting summary"


async def test_an_oversized_file_is_refused_without_downloading_it(ready: DiscordRig) -> None:
    big = ready.fake.host_file("huge.txt", b"a" * 80_001)
    payload = ready.events.command("summarize", attachment=big)
    await ready.interact(payload)
    assert not ready.fake.requests_to("/attachments/", "GET")
    [shown] = ready.fake.responses(payload["id"])
    assert "80,001 bytes" in shown["embeds"][0]["description"]
    assert not ready.engine.fakes["openai"].requests_to("/chat/completions")
