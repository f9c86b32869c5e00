"""``/home``: the settings dashboard — keys, preferences and this month's usage in one reply.

Slack shows it as the App Home tab and Discord as the ``/byok panel`` message, both with
controls that run ``/byok`` commands; any other adapter prints it as it is. What it
shows, and in which order, is :class:`bot.panel.PanelFacts`: one source for every
surface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.context import BotContext
from bot.invocation import Invocation
from bot.panel import KEYS_TITLE, PREFERENCES_TITLE, USAGE_TITLE, load_panel
from bot.reply import ReplyEvent

__all__ = ["KEYS_TITLE", "PREFERENCES_TITLE", "USAGE_TITLE", "home"]


async def home(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    facts = await load_panel(ctx, inv.user_ref)
    yield facts.reply()
