"""Readers for the transcript formats meeting tools export: WebVTT, SubRip and plain text.

Each reader is lenient and returns :class:`Segment`s in document order: who spoke (when the
file says), when, and what. Merging segments into turns, choosing a reader and refusing
unusable input belong to :mod:`bot.summaries.transcripts`. Text arrives here already decoded, with
``\\n`` line endings and no byte-order mark.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

__all__ = ["Segment", "read_cues", "read_plain_text", "split_speaker_label"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of speech as the file records it (a caption cue, a line, a block)."""

    speaker: str | None
    start: float | None
    end: float | None
    text: str


# Hours are optional in WebVTT; SubRip writes a comma before the milliseconds.
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s.*)?$")
_PLAIN_TIME = r"(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^>]*)>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z0-9][^>]*>|<\d[\d:.]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_SPACES = re.compile(r"\s+")
_DIALOGUE_DASH = re.compile(r"^(?:-|>>)\s*")
_COLON_LABEL = re.compile(r"^(?P<name>[^:：]{1,48}?)\s*[:：](?:\s+(?P<text>.*))?$")
_BRACKET_LABEL = re.compile(r"^\[(?P<name>[^\]]{1,48})\]\s*[:：]?\s*(?P<text>.*)$")
_OTTER_HEADER = re.compile(rf"^(?P<name>\S.{{0,47}}?)\s+(?P<time>{_PLAIN_TIME})$")
_NAME_TIME = re.compile(
    rf"^(?P<name>[^()\[\]]{{1,48}}?)\s*[(\[](?P<time>{_PLAIN_TIME})[)\]]"
    r"\s*(?:[:：]\s*(?P<text>.*))?$"
)
_TIME_FIRST = re.compile(
    rf"^(?:\[(?P<bracketed>{_PLAIN_TIME})\]|(?P<bare>{_PLAIN_TIME}))\s*(?P<rest>.*)$"
)

_LONE_TIME = re.compile(rf"^[\[(]?(?P<time>{_PLAIN_TIME})[\])]?$")
_NAME_CHARS = re.compile(r"^[\w .'’&()/@-]+$")
# Lowercase words that may sit inside a capitalised name ("Ana de la Cruz").
_NAME_PARTICLES = frozenset(
    {"al", "bin", "da", "de", "del", "della", "der", "di", "du", "la", "le", "of", "van", "von"}
)
# "Note: ..." and "Agenda: ..." look like speaker labels but are not.
_NOT_SPEAKERS = frozenset(
    {
        "action", "actions", "agenda", "applause", "attendees", "background", "crosstalk",
        "date", "decision", "decisions", "duration", "edit", "example", "fyi", "important",
        "inaudible", "laughter", "laughs", "link", "location", "meeting", "music", "next",
        "noise", "note", "notes", "participants", "ps", "recording", "re", "reminder",
        "silence", "source", "status", "subject", "summary", "time", "title", "todo",
        "topic", "transcript", "update", "url", "warning",
    }
)  # fmt: skip


def read_cues(text: str, *, webvtt: bool) -> list[Segment]:
    """Read WebVTT or SubRip cues; blocks without a timing line are skipped.

    A cue without a speaker label continues the previous speaker, as caption tools often
    label only the first cue of a turn.
    """
    segments: list[Segment] = []
    speaker: str | None = None
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.rstrip() for line in block.strip("\n").split("\n")]
        timing_at = next((i for i, line in enumerate(lines) if "-->" in line), None)
        timing = _TIMING.match(lines[timing_at]) if timing_at is not None else None
        if timing is None or timing_at is None:
            # SubRip has no comment blocks: a stray block is text cut off its cue.
            stray = _clean(" ".join(lines))
            if not webvtt and segments and stray and not stray.isdigit():
                last = segments[-1]
                segments[-1] = Segment(last.speaker, last.start, last.end, f"{last.text} {stray}")
            continue
        start = _seconds(*timing.groups()[:4])
        end = _seconds(*timing.groups()[4:])
        for label, words in _cue_payload(lines[timing_at + 1 :]):
            speaker = label or speaker
            if words:
                segments.append(Segment(speaker, start, end, words))
    return segments


def read_plain_text(text: str) -> list[Segment]:
    """Read pasted or .txt transcripts.

    Understands ``Name: text``, ``Name (00:12): text``, ``[00:12] Name: text`` and
    Otter-style ``Name  0:12`` header lines followed by the text. A timestamp alone on a
    line (Google Meet's text export) dates the turn that follows. Lines without a label
    continue the current speaker; without any speaker, blank lines separate paragraphs.
    """
    segments: list[Segment] = []
    speaker: str | None = None
    start: float | None = None
    stamp: float | None = None
    lines: list[str] = []
    after_blank = False

    def flush() -> None:
        words = _clean(" ".join(lines))
        if words:
            segments.append(Segment(speaker, start, None, words))
        lines.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        lone = _LONE_TIME.match(line)
        if not line or lone:
            stamp = _plain_seconds(lone["time"]) if lone else stamp
            after_blank = True
            continue
        heading = _plain_heading(line)
        if heading is not None:
            flush()
            speaker, start, first = heading
            start, stamp = (stamp if start is None else start), None
            lines.append(first)
        elif after_blank and speaker is None:
            flush()
            start, stamp = stamp, None
            lines.append(line)
        else:
            lines.append(line)
        after_blank = False
    flush()
    return segments


def split_speaker_label(line: str) -> tuple[str, str] | None:
    """Split ``Name: text`` or ``[Name] text`` into name and text, if the label is a name."""
    for pattern in (_BRACKET_LABEL, _COLON_LABEL):
        match = pattern.match(line)
        if match and _is_name(match["name"]):
            return match["name"].strip(), (match["text"] or "").strip()
    return None


def _plain_heading(line: str) -> tuple[str | None, float | None, str] | None:
    """Speaker, start and first text of a line that starts a turn, else ``None``."""
    if (match := _OTTER_HEADER.match(line)) and _is_name(match["name"]):
        return match["name"].strip(), _plain_seconds(match["time"]), ""
    if (match := _NAME_TIME.match(line)) and _is_name(match["name"]):
        return match["name"].strip(), _plain_seconds(match["time"]), match["text"] or ""
    if match := _TIME_FIRST.match(line):
        stamp = match["bracketed"] or match["bare"]
        label = split_speaker_label(match["rest"].lstrip("-–— "))
        if label is not None:
            return label[0], _plain_seconds(stamp), label[1]
        if match["bracketed"]:
            return None, _plain_seconds(stamp), match["rest"]
    if label := split_speaker_label(line):
        return label[0], None, label[1]
    return None


def _cue_payload(lines: list[str]) -> list[tuple[str | None, str]]:
    """Who says what inside one cue: ``<v Name>`` voice spans, else labelled lines."""
    raw = "\n".join(lines)
    if _VOICE.search(raw):
        pieces = _VOICE.split(raw)
        found: list[tuple[str | None, str]] = [(None, _clean(pieces[0]))]
        for name, words in zip(pieces[1::2], pieces[2::2], strict=True):
            found.append((_clean(name) or None, _clean(words)))
        return found
    found = []
    label: str | None = None
    pending: list[str] = []
    for line in lines:
        cleaned = _DIALOGUE_DASH.sub("", _clean(line))
        labelled = split_speaker_label(cleaned)
        if labelled is None:
            pending.append(cleaned)
            continue
        found.append((label, _clean(" ".join(pending))))
        label, pending = labelled[0], [labelled[1]]
    found.append((label, _clean(" ".join(pending))))
    return found


def _is_name(candidate: str) -> bool:
    name = candidate.strip()
    words = name.split()
    if not words or len(name) > 40 or len(words) > 5 or not name[0].isalpha():
        return False
    if not _NAME_CHARS.match(name) or name.lower() in _NOT_SPEAKERS:
        return False
    if words[0].lower().strip(".") in _NOT_SPEAKERS:
        return False
    # Sentences ("The plan is: ...") have lowercase words; names are capitalised.
    return all(not word[0].islower() or word in _NAME_PARTICLES for word in words)


def _clean(text: str) -> str:
    """Caption markup removed, entities decoded, whitespace collapsed."""
    text = _ASS_OVERRIDE.sub("", _TAG.sub("", text))
    return _SPACES.sub(" ", html.unescape(text)).strip()


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str | None) -> float:
    millis = int((fraction or "0").ljust(3, "0")[:3])
    total = ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + millis
    # An integer count of milliseconds divided once gives the float nearest the exact value.
    return total / 1000


def _plain_seconds(stamp: str) -> float:
    whole, _, fraction = stamp.replace(",", ".").partition(".")
    fields = whole.split(":")
    hours = fields[0] if len(fields) == 3 else None
    return _seconds(hours, fields[-2], fields[-1], fraction or None)
