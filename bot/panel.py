"""The settings panel's facts: keys, limits, preferences and this month's usage, in one place.

Slack's App Home, Discord's ``/byok panel`` and the ``/home`` command show the same
:class:`PanelFacts`, read once by :func:`load_panel`. The ``/home`` handler yields a
:class:`PanelReply`: an ordinary :class:`~bot.reply.Reply` (any adapter can print it)
that also carries the facts it was built from, so an adapter with controls runs
``/home`` through the dispatcher — its error replies, metrics and shutdown tracking —
and still gets the structured facts to draw selects and buttons from.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.keys import key_section
from bot.commands.prefs import PREFERENCES, Preference, prefs_section
from bot.commands.usage import report_sections, saved_text
from bot.context import BotContext
from bot.formatting import cost_text
from bot.provider_names import ProviderNames
from bot.reply import Reply, Section
from byok.preferences import Preferences
from byok.service import KeyStatus
from byok.types import UserRef
from byok.usage import UsageReport

__all__ = [
    "KEYS_TITLE",
    "PANEL_TITLE",
    "PREFERENCES_TITLE",
    "SWITCHES",
    "USAGE_TITLE",
    "PanelFacts",
    "PanelReply",
    "key_summary",
    "load_panel",
]

PANEL_TITLE = "Your byok-bot settings"
KEYS_TITLE = "Your keys"
PREFERENCES_TITLE = prefs_section(Preferences(), ProviderNames()).title or "Preferences"
USAGE_TITLE = "This month"

#: The on/off preferences (the others take a value: max-tokens).
SWITCHES: tuple[Preference, ...] = tuple(
    p for p in PREFERENCES if isinstance(getattr(Preferences(), p.field), bool)
)


def key_summary(status: KeyStatus) -> str:
    """One line for a key: masked key, status and spend (``…1a2b · active · $1.20 of $20.00``)."""
    return " · ".join(field.value for field in key_section(status, ProviderNames()).fields[:3])


@dataclass(frozen=True, slots=True)
class PanelFacts:
    """What one user's settings panel shows, whatever the platform."""

    providers: tuple[str, ...]  # offered by this deployment
    keys: tuple[KeyStatus, ...]
    prefs: Preferences
    usage: UsageReport
    names: ProviderNames  # how the providers are named to the user

    def key(self, provider_id: str) -> KeyStatus | None:
        return next((k for k in self.keys if k.key.provider_id == provider_id), None)

    @property
    def keyed_providers(self) -> tuple[str, ...]:
        return tuple(k.key.provider_id for k in self.keys)

    def switch(self, preference: Preference) -> bool:
        return bool(getattr(self.prefs, preference.field))

    @property
    def keys_text(self) -> str:
        if self.keys:
            return (
                "Stored encrypted; only the last four characters are shown. "
                "Spend is this calendar month (UTC)."
            )
        return (
            "No keys yet. Add one privately with `/byok add <provider>` — "
            f"providers: {', '.join(self.names.label_with_id(p) for p in self.providers)}."
        )

    @property
    def usage_text(self) -> str:
        report = self.usage
        if not report.lines:
            return f"No requests since {report.start:%d %B}."
        plural = "" if report.requests == 1 else "s"
        cost = cost_text(report.cost, report.unpriced)
        text = f"{report.requests} request{plural} since {report.start:%d %B}, {cost}."
        saved = saved_text(report)
        return text + (f" You {saved}." if saved else "")

    def key_sections(self) -> tuple[Section, ...]:
        return tuple(key_section(status, self.names) for status in self.keys)

    def usage_sections(self, *, by_model: bool = True) -> tuple[Section, ...]:
        """The month's total, then (``by_model``) a section per provider used."""
        details = report_sections(self.usage, self.names) if by_model else []
        return (Section(title=USAGE_TITLE, text=self.usage_text), *details)

    def sections(self, *, by_model: bool = True) -> tuple[Section, ...]:
        """In a fixed order: keys (intro, then one per key), preferences, usage."""
        return (
            Section(title=KEYS_TITLE, text=self.keys_text),
            *self.key_sections(),
            prefs_section(self.prefs, self.names),
            *self.usage_sections(by_model=by_model),
        )

    def reply(self, *, by_model: bool = True) -> PanelReply:
        """The ``/home`` reply; without ``by_model`` usage shows only the month's total."""
        footer = None if by_model else "Usage by model: /usage"
        return PanelReply(
            title=PANEL_TITLE, sections=self.sections(by_model=by_model), footer=footer, facts=self
        )


@dataclass(frozen=True, slots=True)
class PanelReply(Reply):
    """The ``/home`` reply, carrying the facts it shows for adapters that draw controls."""

    facts: PanelFacts | None = None


async def load_panel(ctx: BotContext, user: UserRef) -> PanelFacts:
    service = ctx.service(user)
    return PanelFacts(
        providers=tuple(ctx.provider_ids),
        keys=tuple(await service.get_user_api_keys()),
        prefs=await service.get_preferences(),
        usage=await service.usage_report("month"),
        names=ctx.provider_names,
    )
