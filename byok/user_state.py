"""Everything one request needs to know about its user, read in one transaction.

The hot path of every ask reads the user's row id, preferences and keys (with their
ciphertexts) together, instead of one session per store.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import bindparam, select

from byok.db.database import Database
from byok.db.tables import User, UserAIPreferences, UserApiKey
from byok.keystore import StoredKey, stored_key
from byok.preferences import PREFERENCE_FIELDS, Preferences
from byok.types import UserRef
from byok.users import user_id_or_create
from byok.vault import Sealed

__all__ = ["UserState", "UserStateCache", "load_user_state"]


@dataclass(frozen=True, slots=True)
class UserState:
    user_ref: int
    prefs: Preferences
    keys: dict[str, StoredKey]
    sealed: dict[str, Sealed]


_KEYS = UserApiKey.__table__
_PREFS = UserAIPreferences.__table__
_USERS = User.__table__
_KEY_NAMES = [c.name for c in _KEYS.columns if c.name != "user_ref"]

# Built once: the statement is the same for every request, only the user changes.
_QUERY = (
    select(
        _USERS.c.id.label("user_ref"),
        _PREFS.c.user_ref.label("has_prefs"),
        *(_PREFS.c[name].label(f"p_{name}") for name in PREFERENCE_FIELDS),
        *(_KEYS.c[name].label(f"k_{name}") for name in _KEY_NAMES),
    )
    .select_from(_USERS)
    .outerjoin(_PREFS, _PREFS.c.user_ref == _USERS.c.id)
    .outerjoin(_KEYS, _KEYS.c.user_ref == _USERS.c.id)
    .where(
        _USERS.c.platform == bindparam("platform"),
        _USERS.c.workspace_id == bindparam("workspace"),
        _USERS.c.user_id == bindparam("user"),
    )
)


async def load_user_state(database: Database, owner: UserRef, now: datetime) -> UserState:
    """The user's id, preferences and keys in one query (the user row is made if new)."""
    params = {"platform": owner.platform, "workspace": owner.workspace, "user": owner.user}
    async with database.reading() as connection:
        rows = (await connection.execute(_QUERY, params)).mappings().all()
    if not rows:
        async with database.session() as session:
            user_ref = await user_id_or_create(session, owner, now)
        return UserState(user_ref, Preferences(), {}, {})
    first = rows[0]
    prefs = Preferences()
    if first["has_prefs"] is not None:
        values = {name: first[f"p_{name}"] for name in PREFERENCE_FIELDS}
        values["preferred_models"] = dict(values["preferred_models"] or {})
        prefs = Preferences(**values)
    keys: dict[str, StoredKey] = {}
    sealed: dict[str, Sealed] = {}
    for row in rows:
        if row["k_id"] is None:
            continue
        key = SimpleNamespace(**{name: row[f"k_{name}"] for name in _KEY_NAMES})
        keys[key.provider] = stored_key(key)  # type: ignore[arg-type]
        sealed[key.provider] = Sealed(key.encrypted_key, key.master_key_id)
    return UserState(first["user_ref"], prefs, keys, sealed)


class UserStateCache:
    """Recently loaded user states, kept long and dropped the moment they change.

    Every change made through this process's stores drops the user's entry at once;
    changes made elsewhere are seen through a :mod:`byok.db.state_changes` watch, which
    drops entries too. Each entry lives ``ttl_s`` give or take ``jitter`` (a fraction),
    so entries loaded together do not all expire together; past ``max_users`` the least
    recently used entry makes room.
    """

    def __init__(
        self,
        ttl_s: float = 300.0,
        *,
        jitter: float = 0.2,
        max_users: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._ttl = ttl_s
        self._jitter = jitter
        self._max = max_users
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # noqa: S311 (spreads expiries, no secret)
        self._entries: OrderedDict[UserRef, tuple[float, UserState]] = OrderedDict()
        # Bumped by every change, so a load that raced a change is not kept.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, owner: UserRef) -> UserState | None:
        entry = self._entries.get(owner)
        if entry is None:
            return None
        if entry[0] <= self._monotonic():
            del self._entries[owner]
            return None
        self._entries.move_to_end(owner)
        return entry[1]

    def expires_at(self, owner: UserRef) -> float | None:
        entry = self._entries.get(owner)
        return entry[0] if entry is not None else None

    def put(self, owner: UserRef, state: UserState, loaded_at_generation: int) -> None:
        if loaded_at_generation != self.generation:
            return
        spread = self._rng.uniform(1.0 - self._jitter, 1.0 + self._jitter)
        self._entries[owner] = (self._monotonic() + self._ttl * spread, state)
        self._entries.move_to_end(owner)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, owner: UserRef | None = None) -> None:
        """Drop one user's entry, or every entry."""
        self.generation += 1
        if owner is None:
            self._entries.clear()
        else:
            self._entries.pop(owner, None)
