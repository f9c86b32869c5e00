"""Replies as Block Kit messages, within Slack's limits.

Slack caps a section's text at 3,000 characters and a message at 50 blocks; a long
answer is cut at paragraph, line or word boundaries (never inside a code fence without
closing it) into several messages, the rest continuing in the thread. Answers arrive
as Markdown and are shown as Slack's ``mrkdwn``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.reply import Reply, Section

__all__ = [
    "FENCE",
    "MAX_BLOCKS",
    "MESSAGE_CHARS",
    "SECTION_CHARS",
    "SlackMessage",
    "context_block",
    "cut_at",
    "escape",
    "mrkdwn",
    "open_fence",
    "render_reply",
    "render_stream",
    "section_blocks",
    "split_text",
    "tail_blocks",
]

SECTION_CHARS = 3000
FIELD_CHARS = 2000
FIELDS_PER_SECTION = 10
MAX_BLOCKS = 50
#: Answer text per message before it continues in the thread.
MESSAGE_CHARS = 12_000
#: The notification text sent beside the blocks.
FALLBACK_CHARS = 2900

_TONE = {"error": ":x: ", "warning": ":warning: ", "success": ":white_check_mark: "}
FENCE = "```"

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One message to post: notification text and blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def escape(text: str) -> str:
    """Slack's three control characters, as its docs require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")


def _inline(text: str) -> str:
    out = []
    for piece in _INLINE_CODE.split(text):
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            out.append(piece)
            continue
        converted = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", piece)
        converted = _BOLD.sub("\x00\\2\x00", converted)  # keep bold apart from italics
        converted = _ITALIC.sub(r"_\1_", converted)
        converted = _STRIKE.sub(r"~\1~", converted)
        out.append(converted.replace("\x00", "*"))
    return "".join(out)


def mrkdwn(markdown: str) -> str:
    """Markdown (as models write it) to Slack mrkdwn, escaping ``& < >``."""
    parts = markdown.split(FENCE)
    for index, part in enumerate(parts):
        if index % 2 == 1:
            # Inside a fence: drop the language tag Slack would print.
            first, newline, rest = part.partition("\n")
            code = "\n" + rest if newline and re.fullmatch(r"[\w+#.-]*", first) else part
            parts[index] = escape(code)
            continue
        text = escape(part)
        text = _HEADING.sub(lambda m: f"\x00{m.group(1).strip('*')}\x00", text)
        text = _BULLET.sub(r"\1• ", text)
        parts[index] = _inline(text).replace("\x00", "*")
    return FENCE.join(parts)


def cut_at(text: str, limit: int) -> int:
    """Where to cut ``text`` to keep at most ``limit`` characters: a paragraph, line or word
    boundary in the second half, else ``limit`` itself."""
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep)
        if at >= limit // 2:
            return at
    return max(limit, 0)


def open_fence(text: str) -> str | None:
    """The language tag of the code fence ``text`` leaves open (``""`` for none), or None."""
    parts = text.split(FENCE)
    if len(parts) % 2 == 1:
        return None
    first = parts[-1].partition("\n")[0]
    return first if re.fullmatch(r"[\w+#.-]*", first) else ""


def split_text(text: str, limit: int, *, keep_language: bool = False) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at the best boundary available.

    A code fence open at a cut is closed there and reopened in the next piece, with its
    language tag when ``keep_language`` (raw Markdown; mrkdwn has no tags).
    """
    pieces: list[str] = []
    rest = text
    budget = max(limit - 8, 16)  # room to close and reopen a code fence
    while len(rest) > limit:
        cut = cut_at(rest, budget) or budget
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n ")
        language = open_fence(head)
        if language is not None:
            head += "\n" + FENCE
            rest = FENCE + (language if keep_language else "") + "\n" + rest
        pieces.append(head)
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_CHARS]}]}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _heading(title: str) -> str:
    """A title escaped and trimmed so that, bold and after a tone emoji, it fits a section."""
    text = escape(title)
    limit = SECTION_CHARS - 32
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_blocks(markdown: str) -> list[Block]:
    blocks: list[Block] = []
    for piece in split_text(markdown, SECTION_CHARS - 200):
        converted = mrkdwn(piece)
        blocks.extend(_section(p) for p in split_text(converted, SECTION_CHARS) if p.strip())
    return blocks


def _field_blocks(section: Section) -> list[Block]:
    fields = [
        {"type": "mrkdwn", "text": f"*{escape(f.label)}*\n{mrkdwn(f.value)}"[:FIELD_CHARS]}
        for f in section.fields
    ]
    return [
        {"type": "section", "fields": fields[at : at + FIELDS_PER_SECTION]}
        for at in range(0, len(fields), FIELDS_PER_SECTION)
    ]


def section_blocks(section: Section) -> list[Block]:
    """One reply section: bold title, text, label/value fields, bullets."""
    blocks: list[Block] = []
    body = []
    if section.title:
        body.append(f"*{_heading(section.title)}*")
    if section.text:
        body.append(section.text)
    if body:
        head = body[0] if section.title else ""
        text = "\n".join(body[1:] if section.title else body)
        blocks.extend(_text_blocks(text) if text else [])
        if head:
            if blocks and len(blocks[0]["text"]["text"]) + len(head) < SECTION_CHARS:
                blocks[0]["text"]["text"] = head + "\n" + blocks[0]["text"]["text"]
            else:
                blocks.insert(0, _section(head))
    blocks.extend(_field_blocks(section))
    if section.bullets:
        lines = "\n".join(f"• {b}" for b in section.bullets)
        blocks.extend(_text_blocks(lines))
    return blocks


def tail_blocks(reply: Reply) -> list[Block]:
    """What follows the answer text: its sections, then the footer as a context block."""
    blocks: list[Block] = []
    for section in reply.sections:
        blocks.extend(section_blocks(section))
    if reply.footer:
        blocks.append(context_block(escape(reply.footer)))
    return blocks


def _plain(blocks: Iterable[Block]) -> str:
    texts = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        for item in block.get("fields", ()):
            texts.append(item["text"])
        for item in block.get("elements", ()):
            if isinstance(item, dict) and "text" in item:
                texts.append(str(item["text"]))
    return "\n".join(texts)


def _chars(block: Block) -> int:
    return len(_plain([block]))


def _pack(blocks: Sequence[Block], fallback: str, message_chars: int) -> list[SlackMessage]:
    messages: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        chars = _chars(block)
        current = messages[-1]
        if current and (len(current) >= MAX_BLOCKS or size + chars > message_chars):
            messages.append([])
            size = 0
        messages[-1].append(block)
        size += chars
    out = []
    for index, group in enumerate(messages):
        text = fallback if index == 0 and fallback else _plain(group)
        out.append(SlackMessage(text=(text or "…")[:FALLBACK_CHARS], blocks=group))
    return out


def _title(reply: Reply) -> str | None:
    if not reply.title:
        return None
    return f"*{_TONE.get(reply.tone, '')}{_heading(reply.title)}*"


def render_reply(
    reply: Reply, *, header: str | None = None, message_chars: int = MESSAGE_CHARS
) -> list[SlackMessage]:
    """The whole reply as one or more messages (the later ones go in the thread)."""
    blocks: list[Block] = []
    if header:
        blocks.append(context_block(header))
    title = _title(reply)
    if title:
        blocks.append(_section(title))
    if reply.text:
        text_blocks = _text_blocks(reply.text)
        if not title and reply.tone in _TONE and text_blocks:
            first = text_blocks[0]["text"]
            first["text"] = _TONE[reply.tone] + first["text"]
        blocks.extend(text_blocks)
    blocks.extend(tail_blocks(reply))
    if not blocks:
        blocks.append(_section("(nothing to show)"))
    fallback = _fallback(reply)
    return _pack(blocks, fallback, message_chars)


def _fallback(reply: Reply) -> str:
    lead = reply.title or reply.text or reply.plain_text()
    return lead.strip().splitlines()[0] if lead.strip() else ""


def render_stream(
    text: str,
    *,
    header: str | None = None,
    status: str | None = None,
    message_chars: int = MESSAGE_CHARS,
) -> list[SlackMessage]:
    """An answer still being written: the text so far and a "writing" marker."""
    blocks: list[Block] = []
    if header:
        blocks.append(context_block(header))
    if text.strip():
        blocks.extend(_text_blocks(text))
    marker = (
        f":hourglass_flowing_sand: _{escape(' '.join(status.split()))}_"
        if status
        else ":writing_hand: _writing…_"
    )
    blocks.append(context_block(marker))
    return _pack(blocks, text.strip()[:200] or (status or "…"), message_chars)
