"""What chat adapters look up for a user outside a command: model suggestions, settings.

Platform-neutral helpers for interactive UI (Discord autocomplete, Slack option menus):
the models a user may pick for a provider, whether they keep conversation history, and
whether a text holds something shaped like a key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.context import BotContext
from byok.errors import ByokError
from byok.secret import looks_like_key
from byok.types import UserRef

__all__ = ["ModelLookup", "contains_key", "history_allowed"]

log = logging.getLogger(__name__)


def contains_key(text: str) -> bool:
    """True when ``text`` holds something shaped like an API key or platform token."""
    return looks_like_key(text)


async def history_allowed(ctx: BotContext, user: UserRef) -> bool:
    """Whether the user lets the bot keep conversation history (``/byok prefs history``)."""
    prefs = await ctx.service(user).get_preferences()
    return prefs.store_conversation_history


class ModelLookup:
    """Model ids to suggest as a user types, fast enough for a 3-second deadline.

    The provider's model list is fetched with the user's own key at most once per
    ``ttl`` seconds per user and provider, and never waited on longer than
    ``fetch_timeout``; the user's restriction (``/byok models``), preferred model and the
    provider's default always come first.
    """

    def __init__(
        self,
        ctx: BotContext,
        *,
        ttl: float = 600.0,
        fetch_timeout: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1000,
    ) -> None:
        self._ctx = ctx
        self._ttl = ttl
        self._fetch_timeout = fetch_timeout
        self._clock = clock
        self._max_entries = max_entries
        self._listed: dict[tuple[UserRef, str], tuple[float, tuple[str, ...]]] = {}

    async def suggest(
        self, user: UserRef, provider: str | None, typed: str = "", limit: int = 25
    ) -> list[str]:
        """Up to ``limit`` model ids matching ``typed``; preferred and default ones first."""
        provider_id = await self._provider_for(user, provider)
        if provider_id is None:
            return []
        first, rest = await self._candidates(user, provider_id)
        needle = typed.strip().lower()
        ordered: list[str] = []
        for model in [*first, *sorted(rest, key=lambda m: (not m.lower().startswith(needle), m))]:
            if needle in model.lower() and model not in ordered:
                ordered.append(model)
        return ordered[:limit]

    async def _provider_for(self, user: UserRef, provider: str | None) -> str | None:
        catalog = self._ctx.engine.catalog
        if provider:
            try:
                return catalog.resolve(provider).provider_id
            except ByokError:
                return None
        service = self._ctx.service(user)
        prefs = await service.get_preferences()
        if prefs.default_provider in catalog:
            return prefs.default_provider
        usable = [s.key.provider_id for s in await service.get_user_api_keys() if s.key.usable]
        return next((p for p in usable if p in catalog), None)

    async def _candidates(self, user: UserRef, provider_id: str) -> tuple[list[str], list[str]]:
        engine = self._ctx.engine
        entry = engine.catalog.get(provider_id)
        prefs = await self._ctx.service(user).get_preferences()
        stored = await engine.keys.get(user, provider_id)
        first = [m for m in (prefs.preferred_model(provider_id), entry.default_model) if m]
        if stored is not None and stored.allowed_models:
            return list(stored.allowed_models), []
        if stored is None:
            return first, []
        return first, list(await self._listed_models(user, provider_id))

    async def _listed_models(self, user: UserRef, provider_id: str) -> tuple[str, ...]:
        now = self._clock()
        cached = self._listed.get((user, provider_id))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        engine = self._ctx.engine
        try:
            async with asyncio.timeout(self._fetch_timeout):
                secret = await engine.keys.secret(user, provider_id)
                models = await engine.catalog.get(provider_id).provider.list_models(secret)
        except (ByokError, TimeoutError) as exc:
            log.info("no model list for %s (%s)", provider_id, type(exc).__name__)
            return cached[1] if cached is not None else ()
        names = tuple(m.id for m in models)
        if len(self._listed) >= self._max_entries:
            self._listed.pop(next(iter(self._listed)))
        self._listed[(user, provider_id)] = (now, names)
        return names
