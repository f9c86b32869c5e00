"""Transcript parsing: WebVTT, SubRip and plain text as meeting tools export them."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from bot.commands.table import COMMAND_HINTS
from bot.summaries.transcripts import (
    PARAGRAPH_CHARS,
    Transcript,
    TranscriptError,
    Turn,
    format_timestamp,
    parse_transcript,
)
from byok.errors import ByokError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "transcripts"


def fixture(name: str) -> Transcript:
    path = FIXTURES / name
    return parse_transcript(path.read_bytes(), path.name)


def spans(transcript: Transcript) -> list[tuple[str | None, float | None, float | None]]:
    return [(t.speaker, t.start, t.end) for t in transcript.turns]


# --- WebVTT -------------------------------------------------------------------------------


def test_zoom_vtt_voice_tags_multiline_cues_and_merged_turns() -> None:
    transcript = fixture("zoom_pricing_sync.vtt")
    assert transcript.format == "vtt"
    assert transcript.speakers == ("Maya Lindqvist", "Priya Raman", "Tomás Herrera")
    # 13 cues; consecutive cues of one speaker are one turn.
    assert spans(transcript) == [
        ("Maya Lindqvist", 1.2, 9.91),
        ("Priya Raman", 10.35, 18.76),
        ("Tomás Herrera", 19.1, 23.4),
        ("Maya Lindqvist", 23.9, 35.3),
        ("Priya Raman", 35.3, 37.9),
        ("Tomás Herrera", 38.4, 44.7),
        ("Maya Lindqvist", 45.1, 51.65),
        ("Tomás Herrera", 52.0, 56.3),
        ("Maya Lindqvist", 56.8, 61.25),
    ]
    first = transcript.turns[0].text
    assert first == (
        "Okay, I think everyone's here. Thanks for joining, this is the pricing page sync. "
        "The goal today is to lock the copy for the new Team plan before the launch on the 14th."
    )
    # <i> stripped, &amp; decoded, no markup left anywhere.
    assert "Team is now nineteen dollars a seat." in transcript.turns[1].text
    assert 'or as "two months free"? Sales & support keep asking.' in transcript.turns[2].text
    assert not any(c in t.text for t in transcript.turns for c in "<>")
    assert "Priya, can you send the revised copy to legal by Thursday?" in transcript.turns[3].text


def test_teams_vtt_labels_in_cues_notes_styles_settings_and_hours() -> None:
    transcript = fixture("teams_incident_review.vtt")
    assert transcript.speakers == ("Jordan Okafor", "Aisha Bello", "Wei Chen")
    assert spans(transcript) == [
        ("Jordan Okafor", 2.04, 12.3),
        # The unlabelled cue at 19.45 continues Aisha's turn.
        ("Aisha Bello", 12.9, 24.1),
        ("Jordan Okafor", 24.7, 30.22),
        ("Aisha Bello", 30.8, 36.05),
        ("Wei Chen", 36.6, 42.9),
        ("Jordan Okafor", 43.4, 49.0),
        ("Wei Chen", 3720.0, 3724.5),
    ]
    text = " ".join(t.text for t in transcript.turns)
    for absent in ("NOTE", "automatically", "dashboard", "::cue", "color", "align:", "3f8a1c2e"):
        assert absent not in text
    assert transcript.turns[1].text.endswith(
        "and the alert threshold was too high to catch it early."
    )
    # "Open question for me:" inside a labelled line is text, not a speaker.
    assert transcript.turns[5].text.startswith("Open question for me: do we owe")
    assert transcript.render().splitlines()[-1] == (
        "Wei Chen [1:02:00]: Sorry, one last thing, the postmortem doc is in the shared drive."
    )


def test_vtt_voice_spans_classes_inline_timestamps_and_short_times() -> None:
    text = (
        "WEBVTT - Weekly\n\n"
        "00:05.000 --> 00:07.250\n"
        "<v.loud Ana de la Cruz>Can you <c.yellow>hear</c> me?</v>\n"
        "<v Ben>Yes, <00:00:06.500>loud and clear.</v>\n\n"
        "intro-2\n"
        "00:07.250 --> 00:09.000 line:0 position:20%\n"
        "<v Ben>Let's start.\n"
    )
    transcript = parse_transcript(text, "weekly.vtt")
    assert [(t.speaker, t.start, t.end, t.text) for t in transcript.turns] == [
        ("Ana de la Cruz", 5.0, 7.25, "Can you hear me?"),
        ("Ben", 5.0, 9.0, "Yes, loud and clear. Let's start."),
    ]


def test_vtt_timestamps_are_exact_seconds() -> None:
    text = (
        "WEBVTT\n\n"
        "00:00:00.001 --> 00:00:00.999\n<v A>one</v>\n\n"
        "01:02:03.456 --> 10:00:00.000\n<v B>two</v>\n\n"
        "123:00:00.000 --> 123:00:01.500\n<v C>three</v>\n"
    )
    assert spans(parse_transcript(text)) == [
        ("A", 0.001, 0.999),
        ("B", 3723.456, 36000.0),
        ("C", 442800.0, 442801.5),
    ]


def test_vtt_without_speakers_becomes_timestamped_paragraphs() -> None:
    cues = [
        f"{i}\n00:{i // 60:02d}:{i % 60:02d}.000 --> 00:{i // 60:02d}:{i % 60:02d}.900\n"
        f"This is caption number {i} of a talk with no speaker labels at all."
        for i in range(60)
    ]
    transcript = parse_transcript("WEBVTT\n\n" + "\n\n".join(cues), "talk.vtt")
    assert transcript.speakers == ()
    assert len(transcript.turns) > 1
    assert all(len(t.text) < PARAGRAPH_CHARS + 80 for t in transcript.turns)
    assert transcript.turns[0].start == 0.0 and transcript.turns[-1].end == 59.9
    assert (
        transcript.turns[1]
        .render()
        .startswith(f"[{format_timestamp(transcript.turns[1].start or 0)}] ")
    )
    joined = " ".join(t.text for t in transcript.turns)
    assert joined.count("This is caption number") == 60


# --- SubRip ---------------------------------------------------------------------------------


def test_srt_colon_and_bracket_prefixes_merge_as_one_speaker() -> None:
    transcript = fixture("vendor_call.srt")
    assert transcript.format == "srt"
    assert transcript.speakers == ("Lena Vogel", "Marcus Reid", "Sam Ito")
    assert spans(transcript) == [
        ("Lena Vogel", 0.5, 4.2),
        ("Marcus Reid", 4.2, 12.75),
        ("Lena Vogel", 13.1, 18.4),
        ("Marcus Reid", 18.9, 23.3),
        ("Lena Vogel", 23.8, 28.0),
        ("Sam Ito", 28.0, 30.5),
        ("Lena Vogel", 31.0, 75.25),
    ]
    assert transcript.turns[1].text == (
        "Of course. The main change is the support tier moving to 24/7. "
        "That adds about twelve percent to the annual contract."
    )
    assert transcript.turns[2].text.endswith("Could you do eight?")
    assert "Sam, please draft the security questionnaire answers by the end of the month." in (
        transcript.turns[4].text
    )


def test_srt_dialogue_dashes_styling_and_stray_lines() -> None:
    text = (
        '1\n00:00:01,000 --> 00:00:02,500\n{\\an8}<font color="#ff0">[Music]</font>\n\n'
        "2\n00:00:03,000 --> 00:00:05,000\n- Bob: Are we live?\n- Alice: We are.\n"
        "Welcome, everyone.\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\n<b>Alice:</b> First item.\n\n"
        "a line the exporter split off its cue\n"
    )
    transcript = parse_transcript(text, "live.srt")
    assert [(t.speaker, t.text) for t in transcript.turns] == [
        (None, "[Music]"),
        ("Bob", "Are we live?"),
        ("Alice", "We are. Welcome, everyone. First item. a line the exporter split off its cue"),
    ]
    assert transcript.turns[2].start == 3.0 and transcript.turns[2].end == 6.0


# --- plain text -----------------------------------------------------------------------------


def test_plain_text_name_colon_lines() -> None:
    transcript = fixture("standup.txt")
    assert transcript.format == "text"
    assert transcript.speakers == ("Hannah Pierce", "Diego Alvarez", "Noor Haddad")
    assert [t.speaker for t in transcript.turns] == [
        None,
        "Hannah Pierce",
        "Diego Alvarez",
        "Hannah Pierce",
        "Noor Haddad",
        "Diego Alvarez",
        "Noor Haddad",
        "Hannah Pierce",
        "Noor Haddad",
    ]
    assert transcript.turns[0].text == "Mobile team standup — Wednesday"
    assert transcript.turns[1].text == (
        "Yesterday I finished the offline sync for the notes screen. "
        "Today I'm on the crash in the image picker."
    )
    assert transcript.turns[6].text == "Decision: we ship 4.2 without the widget, it moves to 4.3."
    assert all(t.start is None and t.end is None for t in transcript.turns)


def test_otter_blocks() -> None:
    transcript = fixture("otter_design_review.txt")
    assert [(t.speaker, t.start) for t in transcript.turns] == [
        (None, None),
        ("Grace Mbeki", 3.0),
        ("Oliver Brandt", 19.0),
        ("Grace Mbeki", 41.0),
        ("Sofia Rossi", 47.0),
        ("Oliver Brandt", 62.0),
        ("Sofia Rossi", 75.0),
        ("Grace Mbeki", 88.0),  # two consecutive Grace blocks, one turn
    ]
    assert transcript.turns[0].text == "Design review: onboarding checklist"
    assert transcript.turns[-1].text == (
        "Perfect. What we still need to decide is whether the checklist can be dismissed for "
        "good, or only hidden. Let's leave that open until we hear from support."
    )
    assert transcript.turns[5].render() == (
        "Oliver Brandt [01:02]: I'll mock up the small-screen empty state by Tuesday."
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Alice (00:12): Hello there.", ("Alice", 12.0, "Hello there.")),
        ("Alice Chen (1:02:03): Hello.", ("Alice Chen", 3723.0, "Hello.")),
        ("Bob [04:05]: Hi.", ("Bob", 245.0, "Hi.")),
        ("[00:12] Alice: Hello there.", ("Alice", 12.0, "Hello there.")),
        ("[01:02:03] Dr. Smith: Results.", ("Dr. Smith", 3723.0, "Results.")),
        ("00:42 - Speaker 2: Agreed.", ("Speaker 2", 42.0, "Agreed.")),
        ("[00:07.500] Just a timestamp.", (None, 7.5, "Just a timestamp.")),
        ("Speaker 1  12:05", ("Speaker 1", 725.0, "")),
        ("José Núñez: ¿Seguimos?", ("José Núñez", None, "¿Seguimos?")),
        ("李雷: 我们开始吧。", ("李雷", None, "我们开始吧。")),
    ],
)
def test_plain_text_label_variants(
    line: str, expected: tuple[str | None, float | None, str]
) -> None:
    turn = parse_transcript(line + "\nmore words").turns[0]
    speaker, start, text = expected
    assert (turn.speaker, turn.start) == (speaker, start)
    assert turn.text == (f"{text} more words".strip())


@pytest.mark.parametrize(
    "line",
    [
        "Note: the room changed.",
        "The plan is: we ship on Friday.",
        "Agenda: budget, hiring.",
        "See https://example.com/notes for details.",
        "We met at 10:30 to talk.",
        "Action Items: none",
    ],
)
def test_plain_text_lines_that_are_not_speaker_labels(line: str) -> None:
    transcript = parse_transcript(line)
    assert transcript.speakers == ()
    assert transcript.turns[0].text == line


def test_timestamps_alone_on_a_line_date_the_next_turn() -> None:
    text = (
        "Quarterly review - Transcript\n00:00:00\n\nIngrid Dahl: Let's begin.\n"
        "Tariq Aziz: Numbers first?\n00:04:30\nIngrid Dahl: Yes, numbers.\n"
        "[00:09:15]\nand a line that continues Ingrid."
    )
    assert [(t.speaker, t.start, t.text) for t in parse_transcript(text).turns] == [
        (None, None, "Quarterly review - Transcript"),
        ("Ingrid Dahl", 0.0, "Let's begin."),
        ("Tariq Aziz", None, "Numbers first?"),
        ("Ingrid Dahl", 270.0, "Yes, numbers. and a line that continues Ingrid."),
    ]


def test_speakerless_paragraphs_keep_their_own_times() -> None:
    text = "Intro, untimed.\nStill intro.\n\n00:01:00\nSecond part.\n\n[00:02:00]\nThird part."
    assert [(t.start, t.text) for t in parse_transcript(text).turns] == [
        (None, "Intro, untimed. Still intro."),
        (60.0, "Second part. Third part."),
    ]


def test_free_text_without_speakers_keeps_paragraphs_within_a_size() -> None:
    paragraph = "We went through the quarterly numbers and the hiring plan in some detail. " * 6
    transcript = parse_transcript("\n\n".join([paragraph.strip()] * 5))
    assert transcript.speakers == ()
    assert len(transcript.turns) >= 2
    assert all(t.speaker is None and t.start is None for t in transcript.turns)


def test_continuation_after_blank_line_stays_with_the_speaker() -> None:
    transcript = parse_transcript("Alice: First paragraph.\n\nSecond paragraph.\nBob: Reply.")
    assert [(t.speaker, t.text) for t in transcript.turns] == [
        ("Alice", "First paragraph. Second paragraph."),
        ("Bob", "Reply."),
    ]


# --- detection, decoding ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "filename", "kind"),
    [
        ("WEBVTT\n\n00:01.000 --> 00:02.000\nHi", None, "vtt"),
        ("  \nWEBVTT\n\n00:01.000 --> 00:02.000\nHi", None, "vtt"),
        ("1\n00:00:01,000 --> 00:00:02,000\nHi", None, "srt"),
        ("Alice: Hi", None, "text"),
        ("Alice: Hi", "notes.TXT", "text"),
        ("1\n00:00:01,000 --> 00:00:02,000\nAlice: Hi", "cues.VTT", "vtt"),
        ("1\n00:00:01,000 --> 00:00:02,000\nAlice: Hi", "minutes", "srt"),
        ("00:00:01,000 --> 00:00:02,000 is how SRT writes time", "notes.txt", "text"),
    ],
)
def test_format_from_extension_else_content(text: str, filename: str | None, kind: str) -> None:
    assert parse_transcript(text, filename).format == kind


def test_bom_and_crlf_in_bytes_and_text() -> None:
    source = (FIXTURES / "vendor_call.srt").read_text(encoding="utf-8")
    expected = parse_transcript(source, "vendor_call.srt")
    crlf = source.replace("\n", "\r\n")
    assert parse_transcript(codecs.BOM_UTF8 + crlf.encode(), "vendor_call.srt") == expected
    assert parse_transcript("\ufeff" + crlf, "vendor_call.srt") == expected
    assert parse_transcript(source.replace("\n", "\r")) == expected
    vtt = "\ufeffWEBVTT\r\n\r\n00:00:01.000 --> 00:00:02.000\r\n<v Al>Hi\r\nthere</v>\r\n"
    assert parse_transcript(vtt.encode("utf-8")).turns == (Turn("Al", 1.0, 2.0, "Hi there"),)


def test_utf16_with_bom_is_read() -> None:
    data = "Zoë: Bonjour à tous.\nMarc: Salut.".encode("utf-16")
    assert parse_transcript(data, "call.txt").speakers == ("Zoë", "Marc")


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", ["", "   \n\t\n", b"", codecs.BOM_UTF8, "WEBVTT\n\nNOTE only a note\n"]
)
def test_empty_input_is_refused(data: str | bytes) -> None:
    with pytest.raises(TranscriptError) as caught:
        parse_transcript(data)
    assert caught.value.problem == "empty"
    assert isinstance(caught.value, ByokError)
    assert "nothing to summarise" in COMMAND_HINTS.error_text(caught.value)
    assert ".txt, .vtt or .srt" in COMMAND_HINTS.error_text(caught.value)


@pytest.mark.parametrize("filename", ["minutes.docx", "recording.mp4", "notes.PDF", "x.json"])
def test_unsupported_file_types_name_the_supported_ones(filename: str) -> None:
    with pytest.raises(TranscriptError) as caught:
        parse_transcript("Alice: hi", filename)
    extension = filename[filename.rindex(".") :].lower()
    assert caught.value.problem == "unsupported"
    assert COMMAND_HINTS.error_text(caught.value).startswith(f"I can't read `{extension}` files.")
    assert ".txt, .vtt or .srt" in COMMAND_HINTS.error_text(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b"PK\x03\x04\x14\x00\x06\x00word/document.xml",
        b"Alice: hi\x00\x00\x00\x01\x02",
        "Alice: hi\x00 there",
        "".join(chr(i) for i in range(1, 9)) * 3,
    ],
)
def test_binary_content_is_refused(data: str | bytes) -> None:
    with pytest.raises(TranscriptError) as caught:
        parse_transcript(data, "meeting.txt")
    assert caught.value.problem == "binary"
    assert "not a text transcript" in COMMAND_HINTS.error_text(caught.value)


def test_non_utf8_text_is_refused_with_advice() -> None:
    with pytest.raises(TranscriptError) as caught:
        parse_transcript("Renée: On déjeune au café ?".encode("latin-1"), "call.txt")
    assert caught.value.problem == "encoding"
    assert "UTF-8" in COMMAND_HINTS.error_text(caught.value)
    assert "Renée" not in str(caught.value)


# --- rendering ------------------------------------------------------------------------------


def test_render_is_compact_and_leaves_out_unknowns() -> None:
    transcript = Transcript(
        (
            Turn("Alice", 65.9, 70.0, "Line one\n  and   two."),
            Turn(None, 3600.0, None, "Applause."),
            Turn("Bob", None, None, "No time."),
            Turn(None, None, None, "Free text."),
        ),
        "text",
    )
    assert transcript.render() == (
        "Alice [01:05]: Line one and two.\n[1:00:00] Applause.\nBob: No time.\nFree text."
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "00:00"), (59.999, "00:59"), (61.5, "01:01"), (3599.0, "59:59"), (3723.4, "1:02:03")],
)
def test_format_timestamp(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text
