"""Reshaping a conversation for providers that want a separate system prompt and
strictly alternating turns (Anthropic, Gemini).

OpenAI-style APIs take the messages as they are; these two do not: a system message is a
top-level field, and two user (or two assistant) turns in a row are rejected or handled
badly. Consecutive same-role turns are therefore merged, in order, with a blank line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from byok.types import ChatMessage, ImageInput

__all__ = ["Conversation", "Turn", "split_system"]

TurnRole = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class Turn:
    role: TurnRole
    text: str
    #: The images of the merged messages, in order (user turns only).
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True, slots=True)
class Conversation:
    """A system prompt (``None`` when there is none) and alternating turns."""

    system: str | None
    turns: tuple[Turn, ...]


def split_system(messages: Sequence[ChatMessage]) -> Conversation:
    """Pull out every system message and merge consecutive same-role turns."""
    system_parts = [m.content for m in messages if m.role == "system" and m.content]
    turns: list[Turn] = []
    for message in messages:
        if message.role == "system":
            continue
        role: TurnRole = "user" if message.role == "user" else "assistant"
        if turns and turns[-1].role == role:
            last = turns[-1]
            turns[-1] = Turn(
                role, f"{last.text}\n\n{message.content}", (*last.images, *message.images)
            )
        else:
            turns.append(Turn(role, message.content, message.images))
    return Conversation("\n\n".join(system_parts) or None, tuple(turns))
