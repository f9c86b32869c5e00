"""The earlier messages of a Slack thread, as the model should read them.

``conversations.replies`` pages oldest first, so the thread is read page by page
(bounded) and the newest messages before the mention are the ones kept, with the root
(which often holds the question) in front when it fits. The bot's own messages carry
only a one-line notification text; their answer is rebuilt from the blocks, and the
``/ask`` question its header shows becomes the asker's line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.lookup import contains_key

__all__ = ["THREAD_CONTEXT_CHARS", "message_lines", "thread_messages"]

log = logging.getLogger(__name__)

#: Characters of earlier messages given as context (the engine trims to its budget after).
THREAD_CONTEXT_CHARS = 12_000
#: The root's share of that, when the thread is longer than the budget.
ROOT_CHARS = 3_000
PAGE = 200
MAX_PAGES = 20
LEFT_OUT = "(left out: it held something shaped like an API key)"

# The header of a public /ask answer: "<@U123> `/ask` the question" (see commands.py).
_ASK_HEADER = re.compile(r"^<@([A-Z0-9]+)> `/ask` (.+)$", re.DOTALL)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _rich_text(elements: Iterable[Any]) -> str:
    out: list[str] = []
    for element in elements:
        if not isinstance(element, Mapping):
            continue
        kind = element.get("type")
        if kind == "text":
            out.append(str(element.get("text") or ""))
        elif kind == "link":
            out.append(str(element.get("text") or element.get("url") or ""))
        elif kind == "user":
            out.append(f"<@{element.get('user_id', '')}>")
        elif kind == "channel":
            out.append(f"<#{element.get('channel_id', '')}>")
        elif kind == "emoji":
            out.append(f":{element.get('name', '')}:")
        elif kind == "rich_text_section":
            out.append(_rich_text(element.get("elements") or ()))
        elif kind == "rich_text_quote":
            out.append("> " + _rich_text(element.get("elements") or ()) + "\n")
        elif kind == "rich_text_preformatted":
            out.append("```\n" + _rich_text(element.get("elements") or ()) + "\n```\n")
        elif kind == "rich_text_list":
            for item in element.get("elements") or ():
                items = item.get("elements") if isinstance(item, Mapping) else None
                out.append("• " + _rich_text(items or ()) + "\n")
        if kind == "rich_text_section" and out and not out[-1].endswith("\n"):
            out.append("\n")
    return "".join(out)


def _block_text(block: Mapping[str, Any]) -> str:
    kind = block.get("type")
    if kind == "section":
        parts = []
        text = block.get("text")
        if isinstance(text, Mapping):
            parts.append(str(text.get("text") or ""))
        parts += [str(f.get("text") or "") for f in block.get("fields") or () if f]
        return "\n".join(p for p in parts if p)
    if kind == "markdown":
        return str(block.get("text") or "")
    if kind == "rich_text":
        return _rich_text(block.get("elements") or ()).strip()
    if kind == "header":
        text = block.get("text")
        return str(text.get("text") or "") if isinstance(text, Mapping) else ""
    return ""  # context blocks: footers, "writing…" markers; the /ask header is read apart


def _asked(blocks: Iterable[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(user, question) from an /ask answer's header context block."""
    for block in blocks:
        if block.get("type") != "context":
            continue
        for element in block.get("elements") or ():
            found = _ASK_HEADER.match(str(element.get("text") or "").strip())
            if found:
                return found.group(1), _unescape(found.group(2))
    return None


def _alike(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def _bot_text(message: Mapping[str, Any]) -> str:
    blocks = [b for b in message.get("blocks") or () if isinstance(b, Mapping)]
    body = "\n".join(t for t in (_block_text(b) for b in blocks) if t.strip())
    fallback = str(message.get("text") or "")
    # A natively streamed answer may keep its text outside the blocks (which then hold
    # only the sections after it): keep whichever the blocks lack.
    first = _alike(fallback.strip().splitlines()[0]) if fallback.strip() else ""
    if first and first not in _alike(body):
        body = fallback + ("\n" + body if body else "")
    return _unescape(body).strip()


def _line(who: str, text: str) -> str:
    return f"{who}: {LEFT_OUT if contains_key(text) else text}"


def message_lines(
    message: Mapping[str, Any], *, bot_user_id: str | None, bot_id: str | None
) -> list[str]:
    """One thread message as context lines: ``who: text`` (two for an /ask answer)."""
    mine = (bot_user_id is not None and message.get("user") == bot_user_id) or (
        bot_id is not None and message.get("bot_id") == bot_id
    )
    if not mine:
        text = _unescape(str(message.get("text") or "")).strip()
        return [_line(f"<@{message.get('user', 'someone')}>", text)] if text else []
    lines = []
    asked = _asked(b for b in message.get("blocks") or () if isinstance(b, Mapping))
    if asked is not None:
        lines.append(_line(f"<@{asked[0]}> (with /ask)", asked[1].strip()))
    text = _bot_text(message)
    if text:
        lines.append(_line("byok-bot (you)", text))
    return lines


async def _read(
    client: AsyncWebClient, channel: str, thread_ts: str, before: str
) -> list[Mapping[str, Any]]:
    messages: list[Mapping[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        response = await client.conversations_replies(
            channel=channel, ts=thread_ts, latest=before, inclusive=False, limit=PAGE,
            cursor=cursor,
        )  # fmt: skip
        messages += [m for m in response.get("messages") or [] if isinstance(m, Mapping)]
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not response.get("has_more") or not cursor:
            return messages
    log.info("slack: thread longer than %d messages; its newest are not read", PAGE * MAX_PAGES)
    return messages


async def thread_messages(
    client: AsyncWebClient,
    channel: str,
    thread_ts: str,
    before: str,
    *,
    bot_user_id: str | None,
    bot_id: str | None,
) -> list[str]:
    """The thread's messages before ``before`` as context lines, newest kept within budget."""
    try:
        messages = await _read(client, channel, thread_ts, before)
    except SlackApiError as exc:
        log.info("slack: no thread context (%s)", exc.response.get("error"))
        return []
    by_ts = {str(m.get("ts")): m for m in messages if float(m.get("ts") or 0) < float(before)}
    unique = [by_ts[ts] for ts in sorted(by_ts, key=float)]
    lines_of = [message_lines(m, bot_user_id=bot_user_id, bot_id=bot_id) for m in unique]
    root: list[str] = []
    if unique and str(unique[0].get("ts")) == thread_ts:
        root = [line[:ROOT_CHARS] for line in lines_of.pop(0)]
    budget = THREAD_CONTEXT_CHARS - sum(len(line) for line in root)
    kept: list[str] = []
    for line in reversed([line for lines in lines_of for line in lines]):
        if len(line) > budget:
            if not kept and budget > 0:  # the latest message alone is too long: its start
                kept.append(line[: budget - 1] + "…")
            break
        kept.append(line)
        budget -= len(line)
    return root + list(reversed(kept))
