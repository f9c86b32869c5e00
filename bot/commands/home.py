"""``/home``: the settings dashboard — keys, preferences and this month's usage in one reply.

Slack shows it as the App Home tab (with controls that run ``/byok`` commands); any other
adapter can print it as it is. Sections come in a fixed order: the :data:`KEYS_TITLE`
section, one section per key titled with its provider id, the :data:`PREFERENCES_TITLE`
section, then the :data:`USAGE_TITLE` section and one section per provider used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.commands.keys import key_section
from bot.commands.prefs import prefs_section
from bot.commands.usage import report_sections
from bot.context import BotContext
from bot.formatting import money
from bot.invocation import Invocation
from bot.reply import Reply, ReplyEvent, Section
from byok.preferences import Preferences

__all__ = ["KEYS_TITLE", "PREFERENCES_TITLE", "USAGE_TITLE", "home"]

KEYS_TITLE = "Your keys"
PREFERENCES_TITLE = prefs_section(Preferences()).title or "Preferences"
USAGE_TITLE = "This month"


async def home(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    service = ctx.service(inv.user_ref)
    statuses = await service.get_user_api_keys()
    prefs = await service.get_preferences()
    report = await service.usage_report("month")
    if statuses:
        keys_text = (
            "Stored encrypted; only the last four characters are shown. "
            "Spend is this calendar month (UTC)."
        )
    else:
        keys_text = (
            "No keys yet. Add one privately with `/byok add <provider>` — "
            f"providers: {', '.join(ctx.provider_ids)}."
        )
    sections = [Section(title=KEYS_TITLE, text=keys_text)]
    sections.extend(key_section(status) for status in statuses)
    sections.append(prefs_section(prefs))
    if report.lines:
        plural = "" if report.requests == 1 else "s"
        usage_text = (
            f"{report.requests} request{plural} since {report.start:%d %B}, {money(report.cost)}"
        )
        if report.unpriced:
            usage_text += f" plus {report.unpriced} whose price is unknown"
        usage_text += "."
    else:
        usage_text = f"No requests since {report.start:%d %B}."
    sections.append(Section(title=USAGE_TITLE, text=usage_text))
    sections.extend(report_sections(report))
    yield Reply(title="Your byok-bot settings", sections=tuple(sections))
