"""Meeting transcripts: decoding, format detection, speaker turns and a compact rendering.

:func:`parse_transcript` takes pasted text or an attached file (.txt, .vtt, .srt) and
returns a :class:`Transcript` of :class:`Turn`s. Consecutive cues of one speaker become one
turn, because captions split sentences across cues; cues without any speaker are gathered
into paragraphs of about :data:`PARAGRAPH_CHARS` characters, so long caption files keep
their timestamps. :meth:`Transcript.render` writes the compact ``Speaker [mm:ss]: text``
lines that prompts carry. Unusable input raises :class:`TranscriptError`, whose
``explanation`` says what to send instead. :func:`max_transcript_bytes` is how large a
transcript file may be; every adapter stops reading or downloading a file beyond it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from bot.summaries.transcript_formats import (
    Segment,
    read_cues,
    read_plain_text,
    split_speaker_label,
)
from byok.errors import ByokError

__all__ = [
    "PARAGRAPH_CHARS",
    "SUPPORTED_EXTENSIONS",
    "Transcript",
    "TranscriptError",
    "TranscriptFormat",
    "Turn",
    "format_timestamp",
    "max_transcript_bytes",
    "parse_transcript",
    "too_large_message",
]

SUPPORTED_EXTENSIONS = (".txt", ".vtt", ".srt")
PARAGRAPH_CHARS = 600
#: UTF-8 spends at most 4 bytes on a character, so a file of up to this many bytes per
#: allowed character may still fit the character limit once decoded.
_MAX_BYTES_PER_CHAR = 4

TranscriptFormat = Literal["vtt", "srt", "text"]
TranscriptProblem = Literal["empty", "unsupported", "binary", "encoding"]

_SUPPORTED_TEXT = ", ".join(SUPPORTED_EXTENSIONS[:-1]) + " or " + SUPPORTED_EXTENSIONS[-1]
_EXTENSION_FORMATS: dict[str, TranscriptFormat] = {".vtt": "vtt", ".srt": "srt", ".txt": "text"}
_SRT_TIMING = re.compile(r"^\s*\d+:\d{2}:\d{2}[,.]\d{1,3}\s*-->", re.MULTILINE)
_BINARY_SIGNATURES = (b"%PDF", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"{\\rtf")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")
_SPACES = re.compile(r"\s+")
# A sentence end, then what may be ``Name: `` (split_speaker_label decides).
_INLINE_LABEL = re.compile(r"(?<=[.!?…])\s+(?=[^\W\d_][^:.!?]{0,39}:\s)")


class TranscriptError(ByokError):
    """A transcript that cannot be read; ``problem`` says why, ``explanation`` what to do."""

    def __init__(self, problem: TranscriptProblem, message: str, *, explanation: str) -> None:
        super().__init__(message, explanation=explanation)
        self.problem: TranscriptProblem = problem


@dataclass(frozen=True, slots=True)
class Turn:
    """What one speaker said without interruption. Times are seconds from the start."""

    speaker: str | None
    start: float | None
    end: float | None
    text: str

    def render(self) -> str:
        """``Speaker [mm:ss]: text`` on one line, leaving out what is unknown."""
        text = _SPACES.sub(" ", self.text).strip()
        stamp = f"[{format_timestamp(self.start)}]" if self.start is not None else ""
        if self.speaker is None:
            return f"{stamp} {text}" if stamp else text
        label = f"{self.speaker} {stamp}" if stamp else self.speaker
        return f"{label}: {text}"


@dataclass(frozen=True, slots=True)
class Transcript:
    """A parsed meeting: its turns in order and the format they were read from."""

    turns: tuple[Turn, ...]
    format: TranscriptFormat

    @property
    def speakers(self) -> tuple[str, ...]:
        """Named speakers in order of first appearance."""
        return tuple(dict.fromkeys(t.speaker for t in self.turns if t.speaker is not None))

    def render(self) -> str:
        """One line per turn, for prompts."""
        return "\n".join(turn.render() for turn in self.turns)


def parse_transcript(data: str | bytes, filename: str | None = None) -> Transcript:
    """Read a transcript from pasted text or a file's content and name.

    The format comes from the file extension when there is one, else from the content.
    Raises :class:`TranscriptError` for empty, binary, non-UTF-8 or unsupported input.
    """
    extension = PurePath(filename).suffix.lower() if filename else ""
    if extension and extension not in _EXTENSION_FORMATS:
        raise TranscriptError(
            "unsupported",
            f"unsupported transcript extension {extension!r}",
            explanation=(
                f"I can't read `{extension}` files. Attach the transcript as {_SUPPORTED_TEXT} "
                "(meeting tools such as Zoom, Teams, Google Meet and Otter export these), "
                "or paste the text."
            ),
        )
    text = _decode(data) if isinstance(data, bytes) else data
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text or len(_CONTROL.findall(text[:4096])) > 8:
        raise _binary_error()
    if not text.strip():
        raise _empty_error("no text")
    kind = _EXTENSION_FORMATS.get(extension) or _detect(text)
    if kind == "text" and "\n" not in text.strip():
        text = _inline_turns(text.strip())
    segments = read_plain_text(text) if kind == "text" else read_cues(text, webvtt=kind == "vtt")
    if not segments:
        raise _empty_error(f"no spoken text in {kind} transcript")
    return Transcript(_merge(segments), kind)


def max_transcript_bytes(max_chars: int) -> int:
    """The largest transcript file read or downloaded, for a limit of ``max_chars``."""
    return max_chars * _MAX_BYTES_PER_CHAR


def too_large_message(name: str, limit_bytes: int) -> str:
    """What a user is told about a transcript file over :func:`max_transcript_bytes`."""
    return (
        f"`{name}` is larger than a transcript may be ({limit_bytes:,} bytes). "
        "Split it (for example by hour) and summarise each part."
    )


def format_timestamp(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on; fractions are dropped."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _inline_turns(line: str) -> str:
    """A one-line transcript (``Ana: … Ben: …``) with each labelled turn on its own line.

    Discord options and the console take one line only, so a pasted meeting often arrives
    as one. Only a line that starts with a speaker label is split, and only where a sentence
    ends and a name and colon follow.
    """
    if split_speaker_label(line) is None:
        return line
    pieces: list[str] = []
    start = 0
    for match in _INLINE_LABEL.finditer(line):
        if split_speaker_label(line[match.end() :]) is not None:
            pieces.append(line[start : match.start()])
            start = match.end()
    return "\n".join([*pieces, line[start:]])


def _detect(text: str) -> TranscriptFormat:
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if _SRT_TIMING.search(text):
        return "srt"
    return "text"


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _encoding_error() from exc
    if data.startswith(_BINARY_SIGNATURES) or b"\x00" in data[:8192]:
        raise _binary_error()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _encoding_error() from exc


def _merge(segments: list[Segment]) -> tuple[Turn, ...]:
    groups: list[list[Segment]] = []
    size = 0
    for seg in segments:
        if groups and _continues(groups[-1], seg, size):
            groups[-1].append(seg)
            size += len(seg.text) + 1
        else:
            groups.append([seg])
            size = len(seg.text)
    return tuple(_turn(group) for group in groups)


def _continues(group: list[Segment], seg: Segment, size: int) -> bool:
    """Whether ``seg`` joins the turn so far: same speaker; without a speaker, only up to a
    paragraph's size and never hiding the time of a timed segment behind an untimed one."""
    first = group[0]
    if first.speaker != seg.speaker:
        return False
    if seg.speaker is not None:
        return True
    return size < PARAGRAPH_CHARS and (first.start is None) == (seg.start is None)


def _turn(group: list[Segment]) -> Turn:
    ends = [s.end for s in group if s.end is not None]
    text = " ".join(s.text for s in group)
    return Turn(group[0].speaker, group[0].start, ends[-1] if ends else None, text)


def _binary_error() -> TranscriptError:
    return TranscriptError(
        "binary",
        "transcript content is binary",
        explanation=(
            "That file is not a text transcript (it looks like a document or binary file). "
            f"Export the meeting transcript as {_SUPPORTED_TEXT} and attach that, "
            "or paste the text."
        ),
    )


def _encoding_error() -> TranscriptError:
    return TranscriptError(
        "encoding",
        "transcript is not valid UTF-8",
        explanation=(
            "That transcript is not UTF-8 text, so I can't read it reliably. Save or export "
            "it as UTF-8 and attach it again."
        ),
    )


def _empty_error(detail: str) -> TranscriptError:
    return TranscriptError(
        "empty",
        f"empty transcript: {detail}",
        explanation=(
            "That transcript has nothing to summarise: I found no spoken text in it. "
            f"Paste the meeting text, or attach a {_SUPPORTED_TEXT} transcript."
        ),
    )
