"""The engine: everything users share, one per process (database, vault, providers,
usage ledger, limits, the user-state cache). :class:`~byok.service.BYOKService` is a light
view of it for one user::

    service = BYOKService(engine, UserRef("slack", "T1", "U1"))
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from byok.attempts import AttemptRunner
from byok.catalog import Catalog, ProviderEntry
from byok.clock import Clock, utc_now
from byok.db.database import Database
from byok.db.state_changes import ChangeWatch, watch_changes
from byok.errors import ByokError
from byok.history import ConversationStore
from byok.keystore import KeyStore
from byok.observer import EngineObserver
from byok.preferences import PreferenceStore
from byok.providers.models import resolve_model
from byok.ratelimit import request_limiter
from byok.response_cache import CacheSettings, ResponseCache
from byok.routing import ResolveModel
from byok.secret import Secret
from byok.types import KeyInfo, UserRef
from byok.usage import UsageLedger
from byok.user_state import UserState, UserStateCache, load_user_state
from byok.vault import Keyring

__all__ = [
    "Engine",
    "EngineSettings",
    "provider_named",
    "refuse_unusable_characters",
    "resolve_model_name",
]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    default_max_tokens: int = 1024
    requests_per_minute: int = 20
    history_token_budget: int = 4000
    #: How long a user's keys and preferences are kept in memory between asks (each
    #: entry ±20%); changes are seen at once all the same. 0: read them on every ask.
    user_state_ttl_s: float = 300.0
    #: SQLite: how old the last look for commits by other processes (the console,
    #: ``byok-bot keys rotate``) may be when a kept state is used.
    user_state_check_s: float = 1.0
    #: The response cache: the operator's switch and bounds.
    cache: CacheSettings = field(default_factory=CacheSettings)


def resolve_model_name(provider_id: str, typed: str | None, default: str) -> tuple[str, str | None]:
    choice = resolve_model(provider_id, typed, default)
    return choice.model_id, choice.note


class Engine:
    """Everything users share; create one per process."""

    def __init__(
        self,
        database: Database,
        keyring: Keyring,
        catalog: Catalog,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = utc_now,
        resolve: ResolveModel = resolve_model_name,
        monotonic: Callable[[], float] = time.monotonic,
        observer: EngineObserver | None = None,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.settings = settings or EngineSettings()
        self.clock = clock
        self.resolve = resolve
        ttl = self.settings.user_state_ttl_s
        self.state_cache = UserStateCache(ttl) if ttl > 0 else None
        forget = self.state_cache.forget if self.state_cache is not None else None
        # Changes made by other processes or instances; started by the first user_state.
        self.state_changes: ChangeWatch | None = None
        if self.state_cache is not None:
            self.state_changes = watch_changes(
                database, self.state_cache.forget, check_s=self.settings.user_state_check_s
            )
        self.keys = KeyStore(database, keyring, clock, on_change=forget)
        self.preferences = PreferenceStore(database, clock, on_change=forget)
        self.ledger = UsageLedger(database, clock)
        self.history = ConversationStore(database, clock)
        self.response_cache = ResponseCache(database, keyring, clock, self.settings.cache)
        self.limiter = request_limiter(database, self.settings.requests_per_minute, monotonic)
        self.runner = AttemptRunner(database, catalog, self.keys, self.ledger, clock, observer)

    async def user_state(self, user: UserRef) -> UserState:
        cache, changes = self.state_cache, self.state_changes
        if cache is None or changes is None or not await changes.ready():
            return await load_user_state(self.database, user, self.clock())
        cached = cache.get(user)
        if cached is not None:
            return cached
        generation = cache.generation
        state = await load_user_state(self.database, user, self.clock())
        cache.put(user, state, generation)
        return state

    def canonical_model(self, provider_id: str, typed: str) -> str:
        """The model id a typed name stands for (retired names map to their successor)."""
        entry = self.catalog.get(provider_id)
        return self.resolve(provider_id, typed, entry.default_model)[0]

    async def validate_api_key(self, provider: str, key: str | Secret) -> KeyInfo:
        """Check a key with the provider's cheapest call; raises why it was refused."""
        entry = self.catalog.resolve(provider)
        secret = key if isinstance(key, Secret) else Secret(key)
        refuse_unusable_characters(secret)
        with provider_named(entry):
            return await entry.provider.validate_key(secret)

    async def aclose(self) -> None:
        if self.state_changes is not None:
            await self.state_changes.aclose()
        await self.ledger.flush()
        await self.catalog.aclose()
        await self.database.dispose()


@contextmanager
def provider_named(entry: ProviderEntry) -> Iterator[None]:
    """An error about ``entry`` leaves the engine naming it as people know it."""
    try:
        yield
    except ByokError as exc:
        exc.name_provider(entry.display_name)
        raise


def refuse_unusable_characters(key: Secret) -> None:
    """Refuse a key that is not printable ASCII, naming the first bad character and where.

    Every key entry path (Slack and Discord forms, a DM, the console) ends here before
    any request: a zero-width space or an accented letter copied along with a key could
    not be sent in a request header at all.
    """
    for position, char in enumerate(key.reveal(), start=1):
        if "!" <= char <= "~":
            continue
        code = f"U+{ord(char):04X}"
        name = unicodedata.name(char, "").lower() or (
            "control character" if unicodedata.category(char) == "Cc" else "character"
        )
        raise ByokError(
            f"key refused: {code} at position {position}",
            explanation=(
                f"The key contains a character that is not allowed ({name} {code} at position "
                f"{position}) — paste it again. Nothing was stored."
            ),
        )
