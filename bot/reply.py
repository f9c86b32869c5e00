"""What handlers produce and adapters render: Block Kit, embeds, or terminal text.

A handler yields :class:`Status` and :class:`Delta` events while it works (progress,
streamed text) and ends with one :class:`Reply`. A reply made of several answers side by
side (``/ask --compare``) also yields :class:`Part` events: each part streams and ends
on its own, and adapters show each as its own message or block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

__all__ = [
    "Delta",
    "Field",
    "FileOut",
    "Part",
    "Reply",
    "ReplyEvent",
    "SecretRequest",
    "Section",
    "Status",
    "closed_after",
    "collect",
]

Tone = Literal["info", "answer", "success", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Field:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of a reply: text, label/value fields, and/or bullet points."""

    title: str | None = None
    text: str | None = None
    fields: tuple[Field, ...] = ()
    bullets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileOut:
    """A file to attach, such as a chart."""

    filename: str
    content: bytes
    mime: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class SecretRequest:
    """Ask the user for a key privately (modal or hidden prompt), then call back."""

    provider_id: str
    label: str | None = None
    monthly_limit: str | None = None
    allowed_models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """The finished answer to a command.

    ``private`` asks the adapter to show it to the invoking user only (an ephemeral
    message). ``footer`` carries who answered and what it cost.
    """

    text: str = ""
    title: str | None = None
    sections: tuple[Section, ...] = ()
    footer: str | None = None
    tone: Tone = "info"
    private: bool = True
    files: tuple[FileOut, ...] = ()
    secret_request: SecretRequest | None = None
    incomplete: bool = False

    def plain_text(self, *, with_text: bool = True) -> str:
        """The reply as plain text (console, notifications, tests).

        ``with_text=False`` leaves out the title and main text, for a reply whose text
        was already shown as it streamed.
        """
        lines: list[str] = []
        if self.title and with_text:
            lines.append(self.title)
        if self.text and with_text:
            lines.append(self.text)
        for section in self.sections:
            if section.title:
                lines.append(f"\n{section.title}")
            if section.text:
                lines.append(section.text)
            lines.extend(f"  {f.label}: {f.value}" for f in section.fields)
            lines.extend(f"  • {b}" for b in section.bullets)
        if self.footer:
            lines.append(f"— {self.footer}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Status:
    """Progress while a command works ("part 3 of 7", "trying anthropic…")."""

    text: str


@dataclass(frozen=True, slots=True)
class Delta:
    """More streamed answer text, to append to what was shown."""

    text: str


@dataclass(frozen=True, slots=True)
class Part:
    """An event of one part of a reply several answers share (``/ask --compare``).

    ``key`` names the part (a provider id) and ``title`` heads it. A part's events are
    :class:`Status` and :class:`Delta`, then its own :class:`Reply`, which ends it; parts
    interleave as their answers stream. The command still ends with its own Reply (for
    a comparison, the closing line). Adapters show each part as a message of its own
    (Slack, Discord) or a labelled block (the console).
    """

    key: str
    title: str
    event: Status | Delta | Reply


ReplyEvent = Status | Delta | Part | Reply


_Events = TypeVar("_Events", bound=AsyncIterator[object])


@asynccontextmanager
async def closed_after(events: _Events) -> AsyncIterator[_Events]:
    """Iterate ``events`` and close them when done, also when the consumer is closed.

    A loop over an inner generator does not close it when the outer one is closed (an
    adapter that stops showing a reply calls ``aclose``): left open, the provider streams
    under it ran on, their usage rows pending, until the garbage collector got to them.
    """
    try:
        yield events
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def collect(
    events: AsyncIterator[ReplyEvent],
) -> tuple[list[Status | Delta | Part], Reply]:
    """Run a handler to its end: the events on the way and the final reply."""
    seen: list[Status | Delta | Part] = []
    async for event in events:
        if isinstance(event, Reply):
            return seen, event
        seen.append(event)
    raise RuntimeError("handler ended without a reply")
