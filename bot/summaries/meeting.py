"""The meeting-summary value, read out of a model's reply and written back as Markdown.

Models are asked for strict JSON, and do not always comply: :func:`parse_summary_reply`
accepts code fences, prose around the object, trailing commas, a reply cut off at the
token limit and common key spellings, and when there is no JSON at all it reads Markdown
headings and bullets instead ("Overview", "Decisions", "Action items", "Open questions";
action items as ``task — Alice, by Friday`` or ``task (owner: Alice, due: 1 Dec)``). A reply
with neither is prose: it is kept as written and marked unstructured, so that no one reads
its empty lists as "nothing was decided".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from byok.errors import ByokError
from byok.remedies import Advice, ChooseModel

__all__ = [
    "PROSE_NOTE",
    "PROSE_TITLE",
    "ActionItem",
    "MeetingSummary",
    "SummaryError",
    "format_markdown",
    "parse_action_item",
    "parse_summary_reply",
]

SummaryProblem = Literal["empty_reply", "context_too_small", "empty_transcript"]


class SummaryError(ByokError):
    """A summary could not be produced; ``problem`` says why, ``advice`` what to do."""

    def __init__(
        self, problem: SummaryProblem, message: str, *, explanation: str, advice: Advice = ()
    ) -> None:
        super().__init__(message, explanation=explanation, advice=advice)
        self.problem: SummaryProblem = problem


@dataclass(frozen=True, slots=True)
class ActionItem:
    """A task; ``owner`` and ``due`` only when the meeting stated them."""

    task: str
    owner: str | None = None
    due: str | None = None


PROSE_TITLE = "Summary (unstructured)"
PROSE_NOTE = (
    "The model answered in prose instead of the usual sections (decisions, action items, "
    "open questions), so here is its answer as written:"
)


@dataclass(frozen=True, slots=True)
class MeetingSummary:
    """What a meeting covered. ``parts`` is how many pieces the transcript was read in.

    ``structured`` is False when the model answered in prose: ``overview`` then holds its
    answer as written, and the lists are empty because they were not given, not because
    the meeting had none.
    """

    overview: str
    decisions: tuple[str, ...] = ()
    action_items: tuple[ActionItem, ...] = ()
    open_questions: tuple[str, ...] = ()
    parts: int = 1
    structured: bool = True


_Section = Literal["overview", "decisions", "action_items", "open_questions"]
_SECTION_NAMES: dict[str, _Section] = {
    "overview": "overview", "summary": "overview", "meeting summary": "overview",
    "tl dr": "overview", "tldr": "overview",
    "decisions": "decisions", "key decisions": "decisions", "decisions made": "decisions",
    "action items": "action_items", "actions": "action_items", "next steps": "action_items",
    "tasks": "action_items", "to dos": "action_items", "todos": "action_items",
    "action item": "action_items",
    "open questions": "open_questions", "questions": "open_questions",
    "unresolved questions": "open_questions", "outstanding questions": "open_questions",
    "open issues": "open_questions",
}  # fmt: skip
_KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "task": ("task", "action", "description", "item", "text", "title", "what"),
    "owner": ("owner", "owners", "assignee", "assigned_to", "who", "responsible"),
    "due": ("due", "due_date", "deadline", "when", "by", "date"),
}
_ITEM_TEXT_KEYS = ("text", "decision", "question", "description", "summary", "item", "content")
_UNSTATED = frozenset(
    {"", "-", "—", "n/a", "na", "none", "null", "unknown", "tbd", "tbc", "unassigned",
     "not stated", "not specified", "unspecified", "not mentioned", "no owner", "nobody",
     "no owner stated", "no due date", "none stated", "none recorded"}
)  # fmt: skip
_BEFORE_CLOSE = re.compile(r",\s*[}\]]")
_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.DOTALL)
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_BULLET = re.compile(r"^(?:[-*•+]|\d{1,3}[.)])\s+(?:\[[ xX]?\]\s*)?")
_HEADING_MARKS = re.compile(r"^#{1,6}\s*|^\*\*|\*\*$|^__|__$")
_EMPHASIS = re.compile(r"\*\*|__|`")
_KEY_VALUE = re.compile(
    r"(?<![\w-])(?P<key>owner|assignee|assigned to|responsible|due date|due|deadline)\s*[:=]\s*"
    r"(?P<value>[^,;|)\]]+)",
    re.IGNORECASE,
)
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;|\s]*\)|\[\s*[,;|\s]*\]")
_DASH_TAIL = re.compile(r"^(?P<task>.+?)\s+[—–-]{1,2}\s+(?P<tail>[^—–]+)$")
_DUE_CLAUSE = re.compile(r"^(?:due(?: by| on)?|by|before|until)\s+(?P<due>.+)$", re.IGNORECASE)
_PAREN_DUE = re.compile(r"\s*\((?:due(?: by| on)?|by)\s+(?P<due>[^)]+)\)$", re.IGNORECASE)
_OWNER_NAME = re.compile(r"^[^\W\d_][\w.'’&/-]*(?:\s+[\w.'’&/-]+){0,4}$")
# A dash tail starting with one of these is a date ("— Friday"), not an owner.
_DATE_WORDS = frozenset(
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today",
     "tomorrow", "tonight", "next", "this", "end", "eod", "eow", "eom", "asap", "mid", "early",
     "late", "january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul",
     "aug", "sep", "sept", "oct", "nov", "dec", "q1", "q2", "q3", "q4", "week", "month"}
)  # fmt: skip
_OWNER_JOINERS = frozenset({"and", "da", "de", "del", "der", "di", "la", "le", "van", "von"})


def parse_summary_reply(reply: str) -> MeetingSummary:
    """Read a summary from whatever the model answered; raise only for an empty reply."""
    text = reply.strip()
    if not text:
        raise SummaryError(
            "empty_reply",
            "model returned an empty summary",
            explanation="The model returned an empty answer.",
            advice=("Try again, or pick another model with ", ChooseModel(), "."),
        )
    summary = _json_summary(text)
    if summary is not None:
        return summary
    unfenced = _FENCE.sub(lambda m: m.group(1), text)
    return _from_markdown(unfenced) or MeetingSummary(unfenced.strip(), structured=False)


def parse_action_item(text: str) -> ActionItem:
    """An action item from one line: ``task — Alice, by Friday``, ``task (owner: Alice)``."""
    task = _EMPHASIS.sub("", text).strip()
    found: dict[str, str | None] = {}
    for match in _KEY_VALUE.finditer(task):
        key = match["key"].lower()
        role = "due" if key.startswith("due") or key == "deadline" else "owner"
        found.setdefault(role, _stated(match["value"]))
    if found:
        task = _EMPTY_BRACKETS.sub("", _KEY_VALUE.sub("", task))
        task = task.strip(" \t,;|—–-")
    else:
        if paren := _PAREN_DUE.search(task):
            found["due"] = _stated(paren["due"])
            task = task[: paren.start()]
        if dash := _DASH_TAIL.match(task):
            tail = _tail(dash["tail"])
            if tail is not None:
                task = dash["task"]
                found["owner"] = tail[0]
                found["due"] = found.get("due") or tail[1]
    return ActionItem(task.strip(), found.get("owner"), found.get("due"))


def format_markdown(summary: MeetingSummary) -> str:
    """The summary as a chat reply shows it: bold section names and bullets."""
    if not summary.structured:
        lines = [f"**{PROSE_TITLE}**", PROSE_NOTE, "", summary.overview]
    else:
        lines = _section_lines(summary)
    if summary.parts > 1:
        lines += ["", f"_Summarised in {summary.parts} parts, then merged._"]
    return "\n".join(lines)


def _section_lines(summary: MeetingSummary) -> list[str]:
    lines = ["**Overview**", summary.overview or "Nothing to report.", "", "**Decisions**"]
    lines += _bullets(summary.decisions)
    lines += ["", "**Action items**"]
    lines += _bullets(_action_line(item) for item in summary.action_items)
    lines += ["", "**Open questions**"]
    lines += _bullets(summary.open_questions)
    return lines


def _action_line(item: ActionItem) -> str:
    who = [item.owner] if item.owner else []
    who += [f"due {item.due}"] if item.due else []
    return f"{item.task} — {', '.join(who)}" if who else item.task


def _bullets(items: Iterable[str]) -> list[str]:
    lines = [f"- {item}" for item in items]
    return lines or ["- None recorded."]


def _tail(tail: str) -> tuple[str | None, str | None] | None:
    """Owner and due date from what follows a dash, or ``None`` if it is not that."""
    tail = tail.strip().rstrip(".")
    if due := _DUE_CLAUSE.match(tail):
        return None, _stated(due["due"])
    first_word = tail.split(maxsplit=1)[0].lower().strip(",.") if tail else ""
    if first_word in _DATE_WORDS or first_word[:1].isdigit():
        return None, _stated(tail)
    owner, _, rest = tail.partition(",")
    owner = owner.strip()
    if owner.lower() not in _UNSTATED and not _is_owner_name(owner):
        return None
    due = _DUE_CLAUSE.match(rest.strip()) if rest else None
    if rest and due is None:
        return None
    return _stated(owner), _stated(due["due"]) if due else None


def _is_owner_name(text: str) -> bool:
    words = text.split()
    return bool(_OWNER_NAME.match(text)) and all(
        not w[0].islower() or w in _OWNER_JOINERS for w in words
    )


def _stated(value: object) -> str | None:
    if value is None or isinstance(value, bool | dict):
        return None
    if isinstance(value, list):
        value = ", ".join(str(v).strip() for v in value if _stated(v))
    text = _EMPHASIS.sub("", str(value)).strip().strip(".").strip()
    return None if text.lower() in _UNSTATED else text


def _json_summary(text: str) -> MeetingSummary | None:
    """The first JSON object in the reply that reads as a summary."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        start = candidate.find("{")
        tries = 0
        while start != -1 and tries < 8:
            for attempt in _json_repairs(candidate, start):
                try:
                    value = json.loads(attempt)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    summary = _from_json({str(k): v for k, v in value.items()})
                    if summary is not None:
                        return summary
            start, tries = candidate.find("{", start + 1), tries + 1
    return None


def _structure(text: str, start: int) -> tuple[list[tuple[int, str]], bool]:
    """Positions of ``{}[],`` outside strings from ``start``, and whether a string is open."""
    marks: list[tuple[int, str]] = []
    in_string = escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{}[],":
            marks.append((index, char))
    return marks, in_string


def _json_repairs(text: str, start: int) -> list[str]:
    """The object starting at ``start`` without trailing commas; for a reply cut off at the
    token limit, the object closed at its last comma (whole items only), then where it ends."""
    marks, in_string = _structure(text, start)
    closers: list[str] = []
    last_comma: tuple[int, list[str]] | None = None
    for index, char in marks:
        if char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]":
            if closers:
                closers.pop()
            if not closers:
                return [_drop_trailing_commas(text[start : index + 1])]
        else:
            last_comma = (index, closers.copy())
    repairs = []
    if last_comma is not None:
        cut, open_then = last_comma
        repairs.append(text[start:cut] + "".join(reversed(open_then)))
    quote = '"' if in_string else ""
    repairs.append(text[start:].rstrip() + quote + "".join(reversed(closers)))
    return [_drop_trailing_commas(r) for r in repairs]


def _drop_trailing_commas(text: str) -> str:
    marks, _ = _structure(text, 0)
    drop = {i for i, char in marks if char == "," and _BEFORE_CLOSE.match(text, i)}
    return "".join(char for i, char in enumerate(text) if i not in drop)


def _from_json(raw: dict[str, object]) -> MeetingSummary | None:
    data = {"_".join(_WORDS.findall(key)).lower(): value for key, value in raw.items()}
    inner = list(data.values())
    if len(inner) == 1 and isinstance(inner[0], dict):  # {"summary": {...}}
        return _from_json({str(k): v for k, v in inner[0].items()})
    if not {"overview", "summary", "decisions", "action_items", "open_questions"} & data.keys():
        return None
    overview = _first(data, "overview", "summary", "tl_dr")
    if isinstance(overview, list):
        overview = " ".join(str(part) for part in overview)
    return MeetingSummary(
        overview=_EMPHASIS.sub("", str(overview or "")).strip(),
        decisions=_strings(_first(data, "decisions", "key_decisions")),
        action_items=_actions(_first(data, "action_items", "actions", "next_steps", "tasks")),
        open_questions=_strings(_first(data, "open_questions", "questions", "open_issues")),
    )


def _first(data: dict[str, object], *keys: str) -> object:
    return next((data[k] for k in keys if data.get(k) is not None), None)


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [_BULLET.sub("", line.strip()) for line in value.splitlines()]
    if not isinstance(value, list):
        return ()
    found: list[str] = []
    for item in value:
        if isinstance(item, dict):
            fields = {str(k): v for k, v in item.items()}
            any_text = next((v for v in fields.values() if isinstance(v, str)), None)
            text = _stated(_first(fields, *_ITEM_TEXT_KEYS) or any_text)
        else:
            text = _stated(item)
        if text:
            found.append(text)
    return tuple(found)


def _actions(value: object) -> tuple[ActionItem, ...]:
    items = value if isinstance(value, list) else list(_strings(value))
    found: list[ActionItem] = []
    for item in items:
        if isinstance(item, dict):
            fields = {"_".join(_WORDS.findall(str(k))).lower(): v for k, v in item.items()}
            task = _stated(_first(fields, *_KEY_ALIASES["task"]))
            if task:
                owner = _stated(_first(fields, *_KEY_ALIASES["owner"]))
                found.append(ActionItem(task, owner, _stated(_first(fields, *_KEY_ALIASES["due"]))))
        elif (text := _stated(item)) is not None:
            found.append(parse_action_item(text))
    return tuple(found)


def _from_markdown(text: str) -> MeetingSummary | None:
    """The summary in Markdown sections, or ``None`` when the text has none (prose)."""
    sections: dict[_Section, list[str]] = {name: [] for name in _SECTION_NAMES.values()}
    bulleted: set[_Section] = set()
    current: _Section | None = None
    preamble: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        bullet = _BULLET.match(line)
        heading = None if bullet or not line else _heading(line)
        if heading is not None:
            current, inline = heading
            sections[current] += [inline] if inline else []
            continue
        item = line[bullet.end() :] if bullet else line
        if not item:
            continue
        if current is None:
            preamble.append(item)
        elif current == "overview" or bullet:
            sections[current].append(item)
            bulleted.update([current] if bullet else [])
        elif raw[:1] in {" ", "\t"} and sections[current]:
            sections[current][-1] += " " + item
        elif current in bulleted:
            current = None  # prose after a list ("Let me know if…") is not part of it
        else:
            sections[current].append(item)
    if not any(sections.values()):
        return None
    overview = " ".join(sections["overview"]) or " ".join(preamble)
    return MeetingSummary(
        overview=_EMPHASIS.sub("", overview).strip(),
        decisions=_strings(sections["decisions"]),
        action_items=_actions(sections["action_items"]),
        open_questions=_strings(sections["open_questions"]),
    )


def _heading(line: str) -> tuple[_Section, str] | None:
    """The section a heading line opens (``## Decisions``, ``**Action items:**``,
    ``Overview: text``) and any text after its colon."""
    title, _, inline = _HEADING_MARKS.sub("", line).strip().partition(":")
    words = [w for w in _WORDS.findall(title) if not w.isdigit()]
    section = _SECTION_NAMES.get(" ".join(words).lower())
    if section is None:
        return None
    return section, _HEADING_MARKS.sub("", inline).strip()
