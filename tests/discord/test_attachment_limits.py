"""A Discord attachment larger than it was announced is refused at the size limit.

Discord's announced size is checked before any download; a body larger than announced
(the CDN's answer is what counts) is read no further than the limit, and the user is
told the limit, by command and by mention alike. Nothing reaches a provider.
"""

from __future__ import annotations

from tests.discord.conftest import DiscordRig
from tests.fakes.discord_events import CHANNEL_ID

LIMIT_TEXT = "larger than a transcript may be (80,000 bytes)"  # 4 x max_transcript_chars


def _understated(discord: DiscordRig) -> dict[str, object]:
    file = discord.fake.host_file("meeting.txt", b"Ana: hello there.\n" * 10_000)
    file["size"] = 1_000  # what Discord announced; the CDN serves 180,000 bytes
    return file


async def test_a_command_attachment_larger_than_announced_is_refused(discord: DiscordRig) -> None:
    await discord.add_key("openai")
    payload = discord.events.command("summarize", attachment=_understated(discord))
    await discord.interact(payload)
    [shown] = discord.fake.responses(payload["id"])
    assert LIMIT_TEXT in shown["embeds"][0]["description"]
    assert not discord.engine.fakes["openai"].requests_to("/chat/completions")


async def test_a_mentioned_attachment_larger_than_announced_is_refused(
    discord: DiscordRig,
) -> None:
    await discord.add_key("openai")
    message = discord.events.message("summarise", mention=True, attachments=[_understated(discord)])
    await discord.post(message)
    [told] = discord.fake.from_bot(CHANNEL_ID)
    assert LIMIT_TEXT in str(told)
    assert not discord.engine.fakes["openai"].requests_to("/chat/completions")
