"""Modals: the private form for an API key, and one to paste a meeting transcript into.

The key modal is the only way a key reaches the bot from a server: what is typed into
it is seen by Discord and the bot alone, is validated through
``Dispatcher.submit_key`` and is never echoed back (the answer names only the last four
characters).

A form here is only a layout. Its submit is routed by its ``custom_id``
(:meth:`InteractionFlows.submit_form`), not by the modal object: discord.py forgets a
modal after its timeout or a restart and then drops the submit silently, losing what
the user typed. The key form carries all it needs in its ``custom_id`` (provider and
owner), so it never expires; the transcript form's flags are kept by the flows, and a
submit they no longer know is answered with a note to run the command again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import ui

from bot.bounds import LABEL_MAX_CHARS

__all__ = [
    "FORM_PREFIX",
    "KeyForm",
    "KeyModal",
    "TranscriptModal",
    "form_values",
]

FORM_PREFIX = "byok_"
_KEY_FORM = FORM_PREFIX + "key"
PASTE_FORM = FORM_PREFIX + "paste"
_TITLE_LIMIT = 45
_PASTE_PARTS = 3
_PASTE_LIMIT = 4000  # Discord's maximum for one text input


@dataclass(frozen=True, slots=True)
class KeyForm:
    """What a key form's ``custom_id`` says: whose form it is and for which provider."""

    provider_id: str
    owner: int

    @property
    def custom_id(self) -> str:
        return f"{_KEY_FORM}:{self.provider_id}:{self.owner}"

    @classmethod
    def parse(cls, custom_id: str) -> KeyForm | None:
        kind, _, rest = custom_id.partition(":")
        provider_id, _, owner = rest.rpartition(":")
        if kind != _KEY_FORM or not provider_id or not owner.isdigit():
            return None
        return cls(provider_id, int(owner))


def form_values(data: Mapping[str, Any] | None) -> dict[str, str]:
    """The submitted text inputs of a modal, by ``custom_id`` (rows and labels walked)."""
    values: dict[str, str] = {}

    def walk(components: Sequence[Mapping[str, Any]]) -> None:
        for component in components:
            if component.get("type") == 1:
                walk(component.get("components", []))
            elif component.get("type") == 18:
                walk([component.get("component", {})])
            elif "custom_id" in component:
                values[str(component["custom_id"])] = str(component.get("value") or "")

    walk((data or {}).get("components", []))
    return values


class _Form(ui.Modal):
    """A modal's layout; never held in discord.py's view store (its submit is routed)."""

    def __init__(self, *, title: str, custom_id: str) -> None:
        super().__init__(title=title[:_TITLE_LIMIT], timeout=None, custom_id=custom_id)
        self.stop()  # a stopped modal is sent but not stored: no expiry, no leak


def _key_title(name: str) -> str:
    """``Add your xAI Grok API key``; a name too long for Discord's 45-character title is
    shortened, so the title still says what the form is for."""
    room = _TITLE_LIMIT - len("Add your  API key")
    if len(name) > room:
        cut = name[: room - 1]
        name = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:-") + "…"
    return f"Add your {name} API key"


class KeyModal(_Form):
    """``/byok add``: the key, an optional label and an optional monthly limit.

    ``name`` is the provider as people know it (``ProviderNames.label``); its id without it.
    """

    def __init__(self, form: KeyForm, name: str | None = None) -> None:
        super().__init__(title=_key_title(name or form.provider_id), custom_id=form.custom_id)
        self.key: ui.TextInput[KeyModal] = ui.TextInput(
            custom_id="key",
            style=discord.TextStyle.short,
            min_length=8,
            max_length=512,
            required=True,
            placeholder="Only the bot sees it; it is stored encrypted",
        )
        self.label: ui.TextInput[KeyModal] = ui.TextInput(
            custom_id="label", required=False, max_length=LABEL_MAX_CHARS, placeholder="e.g. work"
        )
        self.limit: ui.TextInput[KeyModal] = ui.TextInput(
            custom_id="limit",
            required=False,
            max_length=16,
            placeholder="US dollars a month, e.g. 20",
        )
        self.add_item(
            ui.Label(
                text="API key",
                component=self.key,
                description="Shown again only as its last four characters.",
            )
        )
        self.add_item(ui.Label(text="Label (optional)", component=self.label))
        self.add_item(ui.Label(text="Monthly limit (optional)", component=self.limit))


class TranscriptModal(_Form):
    """``/summarize`` without a file: paste the transcript (up to three boxes)."""

    def __init__(self, token: str) -> None:
        super().__init__(title="Summarize a meeting", custom_id=f"{PASTE_FORM}:{token}")
        self.parts: list[ui.TextInput[TranscriptModal]] = [
            ui.TextInput(
                custom_id=f"part{index}",
                style=discord.TextStyle.paragraph,
                max_length=_PASTE_LIMIT,
                required=index == 0,
                placeholder="Alice: Let's ship Friday.\nBob: I'll update the docs.",
            )
            for index in range(_PASTE_PARTS)
        ]
        for index, part in enumerate(self.parts):
            self.add_item(
                ui.Label(
                    text="Transcript" if index == 0 else f"Transcript, continued ({index + 1})",
                    component=part,
                    description="Longer? Attach a .txt, .vtt or .srt file instead."
                    if index == 0
                    else None,
                )
            )

    @staticmethod
    def pasted(values: Mapping[str, str]) -> str:
        parts = (values.get(f"part{index}", "") for index in range(_PASTE_PARTS))
        return "\n".join(part for part in parts if part.strip())
