"""Everything one request needs to know about its user, read in one transaction.

The hot path of every ask reads the user's row id, preferences and keys (with their
ciphertexts) together, instead of one session per store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from byok.db.engine import Database
from byok.db.tables import User, UserAIPreferences, UserApiKey
from byok.keystore import StoredKey, stored_key
from byok.preferences import PREFERENCE_FIELDS, Preferences
from byok.types import UserRef
from byok.users import user_id_or_create
from byok.vault import Sealed

__all__ = ["UserState", "load_user_state"]


@dataclass(frozen=True, slots=True)
class UserState:
    user_ref: int
    prefs: Preferences
    keys: dict[str, StoredKey]
    sealed: dict[str, Sealed]


_KEYS = UserApiKey.__table__
_PREFS = UserAIPreferences.__table__
_USERS = User.__table__
_KEY_COLUMNS = [c.label(f"k_{c.name}") for c in _KEYS.columns if c.name != "user_ref"]
_PREF_COLUMNS = [_PREFS.c[name].label(f"p_{name}") for name in PREFERENCE_FIELDS]


async def load_user_state(database: Database, owner: UserRef, now: datetime) -> UserState:
    """The user's id, preferences and keys in one query (the user row is made if new)."""
    query = (
        select(
            _USERS.c.id.label("user_ref"),
            _PREFS.c.user_ref.label("has_prefs"),
            *_PREF_COLUMNS,
            *_KEY_COLUMNS,
        )
        .select_from(_USERS)
        .outerjoin(_PREFS, _PREFS.c.user_ref == _USERS.c.id)
        .outerjoin(_KEYS, _KEYS.c.user_ref == _USERS.c.id)
        .where(
            _USERS.c.platform == owner.platform,
            _USERS.c.workspace_id == owner.workspace,
            _USERS.c.user_id == owner.user,
        )
    )
    async with database.transaction() as connection:
        rows = (await connection.execute(query)).mappings().all()
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
        key = UserApiKey(
            **{c.name: row[f"k_{c.name}"] for c in _KEYS.columns if c.name != "user_ref"}
        )
        keys[key.provider] = stored_key(key)
        sealed[key.provider] = Sealed(key.encrypted_key, key.master_key_id)
    return UserState(first["user_ref"], prefs, keys, sealed)
