"""The composition root: configuration in, a running engine and dispatcher out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from bot.config import Config
from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.master_key import KeyringSetup, build_keyring
from bot.metrics import Metrics
from byok.catalog import Catalog, ProviderEntry
from byok.db import Database, upgrade
from byok.engine import Engine, EngineSettings
from byok.errors import DatabaseUnavailableError
from byok.providers.lazy import LazyProvider
from byok.providers.registry import (
    BUILTIN_PROVIDER_IDS,
    PROVIDER_ALIASES,
    provider_settings,
)
from byok.response_cache import CacheSettings
from byok.secret import Secret

__all__ = ["App", "build_app", "build_catalog"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class App:
    config: Config
    engine: Engine
    dispatcher: Dispatcher
    keyring: KeyringSetup

    async def aclose(self) -> None:
        await self.engine.aclose()

    async def warm_providers(self) -> None:
        """Load every provider SDK in the background, so no first request waits for it."""
        for entry in self.engine.catalog:
            if isinstance(entry.provider, LazyProvider):
                await entry.provider.warm()


def build_catalog(config: Config) -> Catalog:
    """Every enabled provider: the built-in five, then operator-added endpoints."""
    names = [*BUILTIN_PROVIDER_IDS, *(p for p in config.providers if p not in BUILTIN_PROVIDER_IDS)]
    entries: dict[str, ProviderEntry] = {}
    for provider_id in names:
        settings = config.provider(provider_id)
        if not settings.enabled:
            continue
        provider = LazyProvider(
            provider_settings(
                provider_id,
                wire=settings.wire,
                base_url=settings.base_url,
                default_model=settings.default_model,
                timeout_s=settings.timeout_s,
                max_retries=settings.max_retries,
                display_name=settings.display_name,
            )
        )
        key = settings.operator_key.get_secret_value() if settings.operator_key else None
        entries[provider_id] = ProviderEntry(
            provider=provider,
            display_name=provider.settings.display_name or provider_id,
            operator_key=Secret(key) if key else None,
            allow_operator_key=settings.allow_operator_key,
            operator_monthly_cap=Decimal(str(settings.operator_monthly_cap_usd)),
            requires_user_key=settings.requires_user_key,
        )
    return Catalog(entries, PROVIDER_ALIASES)


async def close_abandoned_attempts(engine: Engine) -> None:
    """Close the usage rows a process that died mid-request left pending (see UsageLedger)."""
    try:
        closed = await engine.ledger.close_abandoned()
    except DatabaseUnavailableError as exc:
        log.warning("could not close abandoned usage rows: %s", exc)
        return
    if closed:
        log.warning(
            "closed %d usage row(s) left pending by a process that stopped mid-request, "
            "as interrupted; their reservations still count",
            closed,
        )


async def _warn_about_unreadable_keys(engine: Engine) -> None:
    """Stored keys sealed under a master key not configured now cannot be used: say so."""
    try:
        unreadable = await engine.keys.unreadable_counts()
    except DatabaseUnavailableError:
        return  # reported by whatever first needs the database
    for key_id, count in sorted(unreadable.items()):
        log.warning(
            "%d stored key(s) were encrypted with master key %s, which is not configured: "
            "those users' requests will fail. Set that key as BYOK_ENCRYPTION_* (or "
            "BYOK_PREVIOUS_ENCRYPTION_* and run `byok-bot keys rotate`).",
            count,
            key_id,
        )


async def build_app(config: Config, metrics: Metrics | None = None) -> App:
    """Open the database (migrating it when configured), the vault and the providers."""
    keyring = build_keyring(config)
    database = Database(config.database.url)
    if config.database.auto_migrate:
        before, after = await upgrade(database)
        if before != after:
            log.info("database migrated from %s to %s", before or "empty", after)
    engine = Engine(
        database,
        keyring.keyring,
        build_catalog(config),
        EngineSettings(
            default_max_tokens=config.limits.default_max_tokens,
            requests_per_minute=config.limits.requests_per_minute,
            history_token_budget=config.limits.history_token_budget,
            user_state_ttl_s=config.database.user_state_ttl_s,
            user_state_check_s=config.database.user_state_check_s,
            cache=CacheSettings(
                enabled=config.cache.enabled,
                max_entries_per_user=config.cache.max_entries_per_user,
                max_answer_chars=config.cache.max_answer_chars,
                default_ttl_s=config.cache.default_ttl_s,
                max_ttl_s=config.cache.max_ttl_s,
            ),
        ),
        observer=metrics,
    )
    await _warn_about_unreadable_keys(engine)
    await close_abandoned_attempts(engine)
    context = BotContext(
        engine,
        max_transcript_chars=config.limits.max_transcript_chars,
        compare_max_providers=config.compare.max_providers,
    )
    return App(config, engine, Dispatcher(context, metrics), keyring)
