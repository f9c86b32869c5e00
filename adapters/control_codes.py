"""Terminal control codes in a typed or piped line: a stray arrow key is never sent.

Tab and newline are text; any other control character (an escape sequence from an arrow
or function key) means the line is not what the user meant to send.
"""

from __future__ import annotations

import re

from bot.reply import Reply

__all__ = ["control_codes_refusal", "has_control_codes"]

# Tab and newline are text (a pasted transcript has both); any other C0 or C1 control
# character, DEL included, is a terminal code never meant as text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A terminal's escape sequences: CSI (arrows: ESC [ A), SS3 (ESC O A) and ESC + one key.
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|.)?|\x9b[0-?]*[ -/]*[@-~]")
_ONLY_CONTROL_CODES = (
    "Ignored a line of terminal control codes (arrow or function keys?); nothing was sent."
)
_HOLDS_CONTROL_CODES = (
    "That line holds terminal control codes (arrow or function keys?), so it was not sent: "
    "type it again without them."
)


def has_control_codes(line: str) -> bool:
    """True when ``line`` holds a control character other than tab and newline."""
    return _CONTROL.search(line) is not None


def control_codes_refusal(line: str) -> Reply | None:
    """Why a line with control codes is not sent, or None for a clean line."""
    if not has_control_codes(line):
        return None
    left = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", line))
    if left.strip():
        return Reply(tone="error", text=_HOLDS_CONTROL_CODES)
    return Reply(tone="warning", text=_ONLY_CONTROL_CODES)
