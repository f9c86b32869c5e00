"""The command layer over a real engine and the fake providers: say a command, read the reply."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.invocation import Attachment, Invocation
from bot.reply import Delta, Part, Reply, Status, collect
from tests.engine.conftest import Clock, MakeRig, Rig, make_rig, rig  # noqa: F401 - fixtures

__all__ = ["Chat", "Said"]


@dataclass
class Said:
    events: list[Status | Delta | Part]
    reply: Reply

    @property
    def text(self) -> str:
        return self.reply.plain_text()

    @property
    def streamed(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, Delta))

    @property
    def statuses(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Status)]


@dataclass
class Chat:
    """Talks to the dispatcher as one user of one platform."""

    dispatcher: Dispatcher
    rig: Rig
    user: str = "U111"
    workspace: str = "T111"
    platform: str = "slack"

    def invocation(
        self, line: str, *, private: bool = True, attachments: tuple[Attachment, ...] = ()
    ) -> Invocation:
        command, _, text = line.lstrip("/").partition(" ")
        return Invocation(
            platform=self.platform,
            workspace=self.workspace,
            user=self.user,
            channel="D1" if private else "C1",
            private=private,
            command=command,
            text=text,
            attachments=attachments,
            thread="thread-1",
        )

    async def say(
        self, line: str, *, private: bool = True, attachments: tuple[Attachment, ...] = ()
    ) -> Said:
        events, reply = await collect(
            self.dispatcher.run(self.invocation(line, private=private, attachments=attachments))
        )
        return Said(events, reply)

    async def add_key(self, provider: str, key: str | None = None) -> Said:
        said = await self.say(f"/byok add {provider}")
        assert said.reply.secret_request is not None
        reply = await self.dispatcher.submit_key(
            self.invocation(f"/byok add {provider}"),
            said.reply.secret_request,
            key or self.rig.fakes.key(provider),
        )
        return Said([], reply)


@pytest.fixture
def chat(rig: Rig) -> Chat:  # noqa: F811 - the rig fixture
    context = BotContext(
        rig.engine,
        max_transcript_chars=20_000,
        summary_part_tokens=2000,
        summary_output_tokens=400,
    )
    return Chat(Dispatcher(context), rig)
