"""What an answer says when the user keeps no history and earlier messages went unsent.

One wording for every platform: a thread reply (or a follow-up in Slack's assistant pane)
answered without the messages before it, and a DM answered on its own.
"""

from __future__ import annotations

from bot.reply import Section

__all__ = ["HISTORY_OFF", "HISTORY_OFF_DM"]

HISTORY_OFF = Section(
    title="History is off",
    text="I only saw this message, not the earlier ones. `/byok prefs history on` lets "
    "replies continue the conversation.",
)
HISTORY_OFF_DM = Section(
    title="History is off",
    text="I answer each DM on its own, without the earlier ones. `/byok prefs history on` "
    "lets me follow the conversation.",
)
