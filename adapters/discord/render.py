"""Replies as Discord messages: content and embeds within Discord's limits.

An answer (prose) goes into message content, split at :data:`PROSE_LIMIT` characters
on paragraph, line or word boundaries — short enough that the line under a streaming
answer ("still writing…" or a status of up to :data:`STATUS_LIMIT` characters, such as
a fallback notice) always fits within Discord's 2,000; a code block cut by a split is closed and re-opened with its
language, so no message ends inside a fence. Its footer (who answered, what it cost)
follows as subtext, its sections as an embed. Other replies (key lists, usage, meeting
summaries, help) are embeds: a titled description plus one field per section, paged so
that each message stays within 10 embeds, 25 fields and 6,000 characters. Files become
attachments of the last message.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import discord

from bot.reply import FileOut, Reply, Section

__all__ = [
    "CONTENT_LIMIT",
    "PROSE_LIMIT",
    "STATUS_LIMIT",
    "Outgoing",
    "live_view",
    "render",
    "split_text",
    "trim",
]

CONTENT_LIMIT = 2000
STATUS_LIMIT = 200  # of a progress status shown under a streaming answer
_CLOSE = "\n```"
_STATUS_MARKER = "-# ⏳ "
# Room for a re-closed code fence and a status line under the last piece while streaming.
PROSE_LIMIT = CONTENT_LIMIT - len(_CLOSE) - len("\n" + _STATUS_MARKER) - STATUS_LIMIT
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_PER_EMBED = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10

_COLOURS = {"info": 0x5865F2, "answer": 0x5865F2, "success": 0x57F287,
            "warning": 0xFEE75C, "error": 0xED4245}  # fmt: skip
_FENCE = re.compile(r"^\s*(```|~~~)")
_BLANK = "\u200b"  # Discord refuses empty field names and values


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Discord message to send or to edit into place."""

    content: str | None = None
    embeds: tuple[discord.Embed, ...] = ()
    files: tuple[FileOut, ...] = ()

    def _files(self) -> list[discord.File]:
        return [
            discord.File(io.BytesIO(f.content), filename=f.filename, description=f.title)
            for f in self.files
        ]

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"content": self.content, "embeds": list(self.embeds)}
        if self.files:
            kwargs["files"] = self._files()
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Replaces everything: content, embeds and attachments."""
        return {"content": self.content, "embeds": list(self.embeds), "attachments": self._files()}

    def same_as(self, other: Outgoing | None) -> bool:
        return (
            other is not None
            and self.content == other.content
            and [e.to_dict() for e in self.embeds] == [e.to_dict() for e in other.embeds]
            and self.files == other.files
        )


# -- splitting -----------------------------------------------------------------------


def _fence_after(piece: str, opener: str | None) -> str | None:
    """The fence still open at the end of ``piece`` (its opening line), if any."""
    for line in piece.split("\n"):
        stripped = line.strip()
        if not _FENCE.match(line) or stripped.count("```") > 1:
            continue
        opener = None if opener is not None else (stripped if len(stripped) <= 24 else "```")
    return opener


def _cut(text: str, budget: int) -> int:
    """Where to end a piece of at most ``budget`` characters: the cleanest boundary."""
    window = text[: budget + 1]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator, 0, budget + 1)
        if at >= budget // 3:
            return at
    return budget


def split_text(text: str, limit: int = PROSE_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters; code fences are closed and re-opened."""
    chunks: list[str] = []
    opener: str | None = None
    rest = text.strip("\n")
    while rest:
        prefix = f"{opener}\n" if opener else ""
        if len(prefix) + len(rest) <= limit:
            chunks.append(prefix + rest)
            break
        cut = max(1, _cut(rest, limit - len(prefix) - len(_CLOSE)))
        piece, rest = rest[:cut], rest[cut:]
        rest = rest.lstrip("\n") if rest.startswith("\n") else rest.removeprefix(" ")
        opener = _fence_after(piece, opener)
        chunks.append(prefix + piece + (_CLOSE if opener else ""))
    return chunks or [""]


def _close_fence(text: str) -> str:
    return text + _CLOSE if _fence_after(text, None) else text


def live_view(text: str, status: str | None) -> list[str]:
    """The message contents while an answer streams, the last one marked as unfinished."""
    marker = f"{_STATUS_MARKER}{_one_line(status)}" if status else "-# ✍️ still writing…"
    if not text.strip():
        return [marker if status else "-# ✍️ thinking…"]
    chunks = split_text(text)
    chunks[-1] = f"{_close_fence(chunks[-1])}\n{marker}"
    return chunks


def _one_line(status: str) -> str:
    return trim(" ".join(status.split()), STATUS_LIMIT)


# -- embeds --------------------------------------------------------------------------


def trim(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _embed_size(embed: discord.Embed) -> int:
    size = len(embed.title or "") + len(embed.description or "") + len(embed.footer.text or "")
    return size + sum(len(f.name or "") + len(f.value or "") for f in embed.fields)


class _Pages:
    """Embeds grouped into messages that respect every per-embed and per-message limit."""

    def __init__(self, colour: int) -> None:
        self.colour = colour
        self.pages: list[list[discord.Embed]] = []

    def _page_size(self) -> int:
        return sum(_embed_size(e) for e in self.pages[-1]) if self.pages else 0

    def _next(self, needed: int) -> discord.Embed:
        """A fresh embed, on a new page (message) when the current one is full."""
        embed = discord.Embed(colour=self.colour)
        full = not self.pages or len(self.pages[-1]) >= EMBEDS_PER_MESSAGE
        if full or self._page_size() + needed > EMBED_TOTAL_LIMIT:
            self.pages.append([embed])
        else:
            self.pages[-1].append(embed)
        return embed

    def _current(self, needed: int, *, field: bool) -> discord.Embed:
        embed = self.pages[-1][-1] if self.pages else None
        if embed is None or self._page_size() + needed > EMBED_TOTAL_LIMIT:
            return self._next(needed)
        if field and len(embed.fields) >= FIELDS_PER_EMBED:
            return self._next(needed)
        return embed

    def describe(self, title: str | None, text: str) -> None:
        for index, piece in enumerate(split_text(text, DESCRIPTION_LIMIT) if text else [""]):
            heading = trim(title, TITLE_LIMIT) if title and index == 0 else None
            embed = self._next(len(piece) + len(heading or ""))
            embed.title, embed.description = heading, piece or None

    def field(self, name: str, value: str) -> None:
        pieces = split_text(value, FIELD_VALUE_LIMIT) if value.strip() else [_BLANK]
        for index, piece in enumerate(pieces):
            label = trim(name or _BLANK, FIELD_NAME_LIMIT - 8)
            label = f"{label} (cont.)" if index else label
            self._current(len(label) + len(piece), field=True).add_field(
                name=label, value=piece, inline=False
            )

    def footer(self, text: str) -> None:
        text = trim(text, FOOTER_LIMIT)
        self._current(len(text), field=False).set_footer(text=text)


def section_text(section: Section) -> str:
    lines = [section.text] if section.text else []
    lines.extend(f"**{f.label}:** {f.value}" for f in section.fields)
    lines.extend(f"• {b}" for b in section.bullets)
    return "\n".join(lines)


def _embed_pages(reply: Reply, *, with_text: bool, with_footer: bool) -> list[list[discord.Embed]]:
    pages = _Pages(_COLOURS.get(reply.tone, _COLOURS["info"]))
    if with_text and (reply.title or reply.text):
        pages.describe(reply.title, reply.text)
    for section in reply.sections:
        pages.field(section.title or "", section_text(section))
    if with_footer and reply.footer:
        pages.footer(reply.footer)
    return pages.pages


def _is_prose(reply: Reply) -> bool:
    return bool(reply.text) and reply.title is None and (reply.tone == "answer" or reply.incomplete)


def render(reply: Reply) -> list[Outgoing]:
    """The messages that show ``reply``, in order; never empty."""
    messages: list[tuple[str | None, list[discord.Embed]]] = []
    if _is_prose(reply):
        chunks = split_text(reply.text)
        footer = reply.footer or ""
        fits = bool(footer) and "\n" not in footer
        fits = fits and len(chunks[-1]) + len(footer) + 4 <= CONTENT_LIMIT
        if fits:
            chunks[-1] += f"\n-# {footer}"
        messages = [(c, []) for c in chunks]
        pages = _embed_pages(reply, with_text=False, with_footer=not fits)
        if pages:
            messages[-1] = (messages[-1][0], pages[0])
            messages.extend((None, page) for page in pages[1:])
    else:
        messages = [(None, page) for page in _embed_pages(reply, with_text=True, with_footer=True)]
    if not messages:
        messages = [("Done.", [])]
    outs = [Outgoing(content, tuple(embeds)) for content, embeds in messages]
    if reply.files:
        last = outs[-1]
        outs[-1] = Outgoing(last.content, last.embeds, reply.files)
    return outs
