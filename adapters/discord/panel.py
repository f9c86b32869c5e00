"""``/byok panel`` (or ``/settings``): the settings panel, one ephemeral message edited in place.

It shows :class:`bot.panel.PanelFacts` — what Slack's App Home shows — as embeds, with
controls in Discord's five action rows:

1. a select for the default provider;
2. a select for the fallback provider;
3. a select of the on/off preferences, each option naming its state: choosing one
   switches it (a row of buttons would hold only five of them);
4. a select of the provider whose key the last row acts on;
5. that key's buttons — test, switch off/on, replace (the key modal), remove (asked
   first), and its preferred model (a small modal) — or "Add a key for …" when there is
   none.

Each control's ``custom_id`` (:class:`PanelControl`) says whose panel it is and which key
is in focus, so a click needs nothing remembered (it works after a restart) and another
user's click is refused. What a control changes, it changes by running an ordinary
``/byok`` command; the outcome is shown above the panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import ui

from adapters.discord.render import CONTENT_LIMIT, render, trim
from bot.bounds import MODEL_MAX_CHARS
from bot.panel import SWITCHES, PanelFacts, PanelReply, key_summary
from bot.reply import Reply

__all__ = [
    "ADD_KEY",
    "CHOOSE_MODEL",
    "PANEL_PREFIX",
    "ModelForm",
    "PanelControl",
    "PanelMessage",
    "is_panel",
    "model_modal",
    "panel_message",
]

PANEL_PREFIX = "panel"
_SELECT_OPTIONS = 25
_OPTION_TEXT = 100  # an option's label and description
_BUTTON_TEXT = 80  # a button's label
_PLACEHOLDER_TEXT = 150  # a select's placeholder
_NOT_SET = "off"
#: Verbs that run ``/byok <verb> <argument>``; the argument of a select is its choice.
_COMMANDS = frozenset({"default", "fallback", "prefs", "test", "enable", "disable", "remove"})
#: Verbs that only redraw: choose the key in focus, ask before removing, cancel.
_REDRAWS = frozenset({"focus", "ask-remove", "show"})
ADD_KEY = "add"  # opens the key modal for the key in focus
CHOOSE_MODEL = "model"  # opens the preferred-model modal for the key in focus
_ICONS = {"error": "❌", "warning": "⚠️", "success": "✅"}


@dataclass(frozen=True, slots=True)
class PanelControl:
    """What a panel control's ``custom_id`` says: ``panel:<owner>:<focus>:<verb>:<argument>``."""

    owner: int
    focus: str  # the provider whose key the last row acts on ("" when none is offered)
    verb: str
    argument: str = ""

    @property
    def custom_id(self) -> str:
        return f"{PANEL_PREFIX}:{self.owner}:{self.focus}:{self.verb}:{self.argument}"

    @classmethod
    def parse(cls, custom_id: str) -> PanelControl | None:
        parts = custom_id.split(":", 4)
        if len(parts) != 5 or parts[0] != PANEL_PREFIX or not parts[1].isdigit():
            return None
        _, owner, focus, verb, argument = parts
        if verb not in _COMMANDS | _REDRAWS | {ADD_KEY, CHOOSE_MODEL}:
            return None
        return cls(int(owner), focus, verb, argument)

    def command(self, values: Sequence[str]) -> str | None:
        """The ``/byok`` command text this control runs (None: it only redraws the panel)."""
        if self.verb not in _COMMANDS:
            return None
        argument = self.argument or (values[0] if values else "")
        return f"{self.verb} {argument}".strip()

    def then(self, verb: str, argument: str = "", *, focus: str | None = None) -> PanelControl:
        """Another control of the same panel."""
        return PanelControl(self.owner, self.focus if focus is None else focus, verb, argument)


@dataclass(frozen=True, slots=True)
class PanelMessage:
    """The panel as one message: the last action's outcome, the facts, the controls."""

    content: str | None
    embeds: tuple[discord.Embed, ...]
    view: ui.View | None

    def edit_kwargs(self) -> dict[str, Any]:
        return {"content": self.content, "embeds": list(self.embeds), "view": self.view}


def _notice_line(notice: Reply) -> str:
    icon = _ICONS.get(notice.tone, "ℹ️")
    return trim(f"{icon} {notice.plain_text()}", CONTENT_LIMIT)


def _embeds(facts: PanelFacts) -> tuple[discord.Embed, ...]:
    """The facts as one message's embeds; per-model usage gives way first when too long."""
    pages = render(facts.reply())
    if len(pages) > 1:
        pages = render(facts.reply(by_model=False))
    return pages[0].embeds


def _option(label: str, value: str, *, chosen: bool, description: str | None = None) -> Any:
    return discord.SelectOption(
        label=label[:_OPTION_TEXT],
        value=value,
        description=description[:_OPTION_TEXT] if description else None,
        default=chosen,
    )


def _provider_select(
    control: PanelControl, label: str, current: str | None, facts: PanelFacts, row: int
) -> ui.Select[ui.View]:
    unset = (
        "not set (first usable key)" if control.verb == "default" else "not set (your other keys)"
    )
    options = [_option(f"{label}: {unset}", _NOT_SET, chosen=current is None)]
    for provider in facts.providers[: _SELECT_OPTIONS - 1]:
        missing = None if facts.key(provider) else "You have no key for it yet"
        shown = f"{label}: {facts.names.label(provider)}"
        options.append(_option(shown, provider, chosen=provider == current, description=missing))
    return ui.Select(custom_id=control.custom_id, options=options, row=row)


def _switch_select(facts: PanelFacts, base: PanelControl, row: int) -> ui.Select[ui.View]:
    """Every on/off preference as an option (``cache: off``); choosing one runs
    ``/byok prefs <name> on|off``. No option stays chosen: the placeholder names those on."""
    options = []
    for switch in SWITCHES[:_SELECT_OPTIONS]:
        on = facts.switch(switch)
        options.append(
            _option(
                f"{switch.name}: {switch.show(facts.prefs)}",
                f"{switch.name} {'off' if on else 'on'}",
                chosen=False,
                description=f"Choose to turn it {'off' if on else 'on'}",
            )
        )
    names = [switch.name for switch in SWITCHES if facts.switch(switch)]
    placeholder = f"Switch on or off (on: {', '.join(names) or 'none'})"
    return ui.Select(
        custom_id=base.then("prefs").custom_id,
        options=options,
        placeholder=trim(placeholder, _PLACEHOLDER_TEXT),
        row=row,
    )


def _key_select(facts: PanelFacts, base: PanelControl, row: int) -> ui.Select[ui.View]:
    options = []
    for provider in facts.providers[:_SELECT_OPTIONS]:
        status = facts.key(provider)
        summary = key_summary(status) if status else "No key yet: choose it, then add one"
        shown = f"{facts.names.label(provider)} key"
        options.append(_option(shown, provider, chosen=provider == base.focus, description=summary))
    return ui.Select(custom_id=base.then("focus").custom_id, options=options, row=row)


def _key_buttons(facts: PanelFacts, base: PanelControl, row: int, *, confirming: bool) -> list[Any]:
    provider = base.focus
    name = facts.names.label(provider)
    status = facts.key(provider)

    def button(label: str, control: PanelControl, style: discord.ButtonStyle) -> Any:
        return ui.Button(
            label=label[:_BUTTON_TEXT], style=style, custom_id=control.custom_id, row=row
        )

    grey, red = discord.ButtonStyle.secondary, discord.ButtonStyle.danger
    if status is None:
        return [button(f"Add a key for {name}", base.then(ADD_KEY), discord.ButtonStyle.primary)]
    if confirming:
        return [
            button(f"Yes, remove the {name} key", base.then("remove", provider), red),
            button("Cancel", base.then("show"), grey),
        ]
    switch = (
        button("Switch off", base.then("disable", provider), grey)
        if status.key.is_active
        else button("Switch on", base.then("enable", provider), discord.ButtonStyle.success)
    )
    return [
        button("Test", base.then("test", provider), grey),
        switch,
        button("Replace key", base.then(ADD_KEY), grey),
        button("Remove…", base.then("ask-remove"), red),
        button("Model…", base.then(CHOOSE_MODEL), grey),
    ]


def _controls(facts: PanelFacts, owner: int, focus: str, *, confirming: bool) -> ui.View:
    prefs = facts.prefs
    base = PanelControl(owner, focus, "show")
    view = ui.View(timeout=None)
    view.add_item(
        _provider_select(base.then("default"), "Default", prefs.default_provider, facts, 0)
    )
    view.add_item(
        _provider_select(base.then("fallback"), "Fallback", prefs.fallback_provider, facts, 1)
    )
    view.add_item(_switch_select(facts, base, 2))
    if focus:
        view.add_item(_key_select(facts, base, 3))
        for item in _key_buttons(facts, base, 4, confirming=confirming):
            view.add_item(item)
    # Routed by custom_id (InteractionFlows.press), never held in discord.py's view store.
    view.stop()
    return view


def _focus(facts: PanelFacts, wanted: str | None) -> str:
    offered = facts.providers[:_SELECT_OPTIONS]
    if wanted in offered:
        return wanted
    return next((p for p in facts.keyed_providers if p in offered), offered[0] if offered else "")


def panel_message(
    home: Reply,
    owner: int,
    focus: str | None = None,
    *,
    notice: Reply | None = None,
    confirming: bool = False,
) -> PanelMessage:
    """The panel for ``home`` (the ``/home`` reply), with ``notice`` above it.

    ``home`` without facts is the dashboard's own failure (database down…): it is shown
    instead, without controls.
    """
    facts = home.facts if isinstance(home, PanelReply) else None
    if facts is None:
        return PanelMessage(_notice_line(home), (), None)
    shown = _focus(facts, focus)
    if confirming:
        notice = Reply(
            tone="warning",
            text=(
                f"Remove your {facts.names.label(shown)} key for good? "
                "It is deleted, not switched off."
            ),
        )
    content = _notice_line(notice) if notice is not None else None
    return PanelMessage(
        content, _embeds(facts), _controls(facts, owner, shown, confirming=confirming)
    )


@dataclass(frozen=True, slots=True)
class ModelForm:
    """The preferred-model form's ``custom_id``: ``panel_model:<provider>:<owner>``."""

    provider_id: str
    owner: int

    @property
    def custom_id(self) -> str:
        return f"{PANEL_PREFIX}_model:{self.provider_id}:{self.owner}"

    @classmethod
    def parse(cls, custom_id: str) -> ModelForm | None:
        kind, _, rest = custom_id.partition(":")
        provider_id, _, owner = rest.rpartition(":")
        if kind != f"{PANEL_PREFIX}_model" or not provider_id or not owner.isdigit():
            return None
        return cls(provider_id, int(owner))

    def control(self, typed: str) -> PanelControl:
        """The panel control it amounts to: ``/byok prefs model <provider> <model|off>``.

        An empty box means the provider's default model again.
        """
        argument = f"model {self.provider_id} {typed.strip() or _NOT_SET}"
        return PanelControl(self.owner, self.provider_id, "prefs", argument)


def model_modal(form: ModelForm, current: str | None, name: str | None = None) -> ui.Modal:
    """One box: the model this provider answers with unless ``--model`` says otherwise.

    ``name`` is the provider as people know it (``PanelFacts.names``); its id without it.
    """
    modal = ui.Modal(
        title=f"Preferred {name or form.provider_id} model"[:45],
        timeout=None,
        custom_id=form.custom_id,
    )
    box: ui.TextInput[ui.Modal] = ui.TextInput(
        custom_id="model",
        required=False,
        max_length=MODEL_MAX_CHARS,
        default=current,
        placeholder="e.g. gpt-4o-mini; empty for the provider's default",
    )
    modal.add_item(ui.Label(text="Model", component=box))
    modal.stop()  # routed by custom_id (InteractionFlows.submit_form), never stored
    return modal


def is_panel(message: discord.Message | None, owner: int) -> bool:
    """Whether ``message`` is ``owner``'s panel (it carries their controls)."""
    if message is None:
        return False
    for row in message.components:
        for child in getattr(row, "children", ()):
            control = PanelControl.parse(str(getattr(child, "custom_id", "") or ""))
            if control is not None and control.owner == owner:
                return True
    return False
