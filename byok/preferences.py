"""A user's AI preferences: routing, limits per request, privacy and notices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import select

from byok.clock import Clock, utc_now
from byok.db.database import Database
from byok.db.state_changes import announce_user_change
from byok.db.tables import UserAIPreferences
from byok.types import UserRef
from byok.users import get_user_id, user_id_or_create

__all__ = ["PREFERENCE_FIELDS", "PreferenceStore", "Preferences", "preferences_from_row"]


@dataclass(frozen=True, slots=True)
class Preferences:
    """Defaults apply to users who never set anything."""

    default_provider: str | None = None
    fallback_provider: str | None = None
    preferred_models: dict[str, str] = field(default_factory=dict)
    auto_switch_provider: bool = True
    max_tokens_per_request: int | None = None
    enable_cost_optimization: bool = False
    store_conversation_history: bool = False
    notify_on_quota_low: bool = True
    weekly_digest: bool = True
    digest_when_empty: bool = False
    #: Answer an identical question again from this user's response cache.
    cache_answers: bool = False
    #: Seconds a cached answer is served; None: the operator's default.
    cache_ttl_s: int | None = None

    def preferred_model(self, provider_id: str) -> str | None:
        return self.preferred_models.get(provider_id)


PREFERENCE_FIELDS = tuple(f.name for f in fields(Preferences))


class PreferenceStore:
    def __init__(
        self,
        database: Database,
        clock: Clock = utc_now,
        on_change: Callable[[UserRef | None], None] | None = None,
    ) -> None:
        self._db = database
        self._clock = clock
        self._changed = on_change or (lambda _owner: None)

    async def get(self, owner: UserRef) -> Preferences:
        async with self._db.session() as session:
            user_ref = await get_user_id(session, owner)
            if user_ref is None:
                return Preferences()
            row = await session.get(UserAIPreferences, user_ref)
            return preferences_from_row(row) if row is not None else Preferences()

    async def update(self, owner: UserRef, **changes: Any) -> Preferences:
        """Change some preferences; returns the whole new set."""
        unknown = set(changes) - set(PREFERENCE_FIELDS)
        if unknown:
            raise ValueError(f"unknown preferences {sorted(unknown)}")
        now = self._clock()
        async with self._db.session() as session:
            user_ref = await user_id_or_create(session, owner, now)
            row = await session.scalar(
                select(UserAIPreferences)
                .where(UserAIPreferences.user_ref == user_ref)
                .with_for_update()
            )
            current = preferences_from_row(row) if row is not None else Preferences()
            updated = replace(current, **changes)
            if row is None:
                row = UserAIPreferences(user_ref=user_ref)
                session.add(row)
            for name in PREFERENCE_FIELDS:
                value = getattr(updated, name)
                setattr(row, name, dict(value) if name == "preferred_models" else value)
            row.updated_at = now
            await announce_user_change(session, owner)
        self._changed(owner)
        return updated


def preferences_from_row(row: UserAIPreferences) -> Preferences:
    values = {name: getattr(row, name) for name in PREFERENCE_FIELDS}
    values["preferred_models"] = dict(values["preferred_models"] or {})
    return Preferences(**values)
