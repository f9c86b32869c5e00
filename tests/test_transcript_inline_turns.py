"""A meeting pasted on one line (Discord options and the console send one) keeps its turns."""

from __future__ import annotations

import pytest

from bot.summaries.transcripts import parse_transcript


@pytest.mark.parametrize(
    ("pasted", "turns"),
    [
        (
            "Alice: We ship on Friday. Bob: I'll update the docs by Thursday.",
            ["Alice: We ship on Friday.", "Bob: I'll update the docs by Thursday."],
        ),
        (
            "Ana: Ready? Ben de la Cruz: Yes! Cy: 3:30 works.",
            ["Ana: Ready?", "Ben de la Cruz: Yes!", "Cy: 3:30 works."],
        ),
        # Labels that are not people, and colons inside a sentence, stay where they are.
        ("Ana: We met. Note: it ran long.", ["Ana: We met. Note: it ran long."]),
        ("Ana: The plan is: ship it. then: rest.", ["Ana: The plan is: ship it. then: rest."]),
        # Only a line that starts with a speaker is a transcript to split.
        ("The plan is good. Ben: yes", ["The plan is good. Ben: yes"]),
        # Several lines already separate their turns: nothing is split inside one.
        ("Ana: Done. Ben: ok\nCy: fine", ["Ana: Done. Ben: ok", "Cy: fine"]),
    ],
)
def test_one_line_is_split_at_speaker_labels_after_a_sentence(
    pasted: str, turns: list[str]
) -> None:
    assert [t.render() for t in parse_transcript(pasted).turns] == turns
