"""Encrypted storage of users' provider keys, and master-key rotation.

Only the ciphertext, the master key id and the last four characters are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select, true, update

from byok.clock import Clock, utc_now
from byok.db.database import Database
from byok.db.state_changes import announce_user_change
from byok.db.tables import User, UserApiKey
from byok.errors import KeyDecryptError, KeyNotFoundError
from byok.secret import Secret
from byok.types import UserRef
from byok.users import get_user_id, user_id_or_create
from byok.vault import Keyring, Sealed

__all__ = ["KeyStore", "RotationReport", "StoredKey", "stored_key"]


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What may be shown of a stored key: never the key itself."""

    id: int
    provider_id: str
    label: str | None
    last4: str
    is_active: bool
    is_valid: bool
    invalid_reason: str | None
    monthly_limit: Decimal | None
    allowed_models: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None
    master_key_id: str = ""

    @property
    def masked(self) -> str:
        return f"…{self.last4}"

    @property
    def usable(self) -> bool:
        return self.is_active and self.is_valid


@dataclass(frozen=True, slots=True)
class RotationReport:
    """``changed_meanwhile``: rows their user replaced (or removed) between the read and
    the re-seal; they were left as the user wrote them, and re-read if still old."""

    rotated: int
    already_current: int
    unreadable: int
    changed_meanwhile: int = 0


def stored_key(row: UserApiKey) -> StoredKey:
    return StoredKey(
        id=row.id,
        provider_id=row.provider,
        label=row.label,
        last4=row.key_last4,
        is_active=row.is_active,
        is_valid=row.is_valid,
        invalid_reason=row.invalid_reason,
        monthly_limit=row.monthly_limit,
        allowed_models=tuple(row.allowed_models or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_validated_at=row.last_validated_at,
        master_key_id=row.master_key_id,
    )


class KeyStore:
    """Add, read, list and remove users' keys; rotate the master key."""

    def __init__(
        self,
        database: Database,
        keyring: Keyring,
        clock: Clock = utc_now,
        on_change: Callable[[UserRef | None], None] | None = None,
    ) -> None:
        self._db = database
        self._keyring = keyring
        self._clock = clock
        self._changed = on_change or (lambda _owner: None)

    async def put(
        self,
        owner: UserRef,
        provider_id: str,
        key: Secret,
        *,
        label: str | None = None,
        monthly_limit: Decimal | None = None,
        allowed_models: Sequence[str] | None = None,
        validated: bool = True,
    ) -> StoredKey:
        """Store (or replace) the user's key for a provider."""
        sealed = self._keyring.seal(key, owner, provider_id)
        now = self._clock()
        async with self._db.session() as session:
            user_ref = await user_id_or_create(session, owner, now)
            row = await session.scalar(
                select(UserApiKey).where(
                    UserApiKey.user_ref == user_ref, UserApiKey.provider == provider_id
                )
            )
            if row is None:
                row = UserApiKey(user_ref=user_ref, provider=provider_id, created_at=now)
                session.add(row)
            row.encrypted_key = sealed.blob
            row.master_key_id = sealed.master_key_id
            row.key_last4 = key.last4
            row.label = label
            row.is_active = True
            row.is_valid = True
            row.invalid_reason = None
            row.monthly_limit = monthly_limit
            row.allowed_models = list(allowed_models) if allowed_models else None
            row.updated_at = now
            row.last_validated_at = now if validated else None
            await session.flush()
            stored = stored_key(row)
            await announce_user_change(session, owner)
        self._changed(owner)
        return stored

    async def secret(self, owner: UserRef, provider_id: str) -> Secret:
        """Decrypt the user's key for one call. Raises KeyNotFoundError or KeyDecryptError."""
        async with self._db.session() as session:
            row = await session.scalar(
                select(UserApiKey)
                .join(User, User.id == UserApiKey.user_ref)
                .where(
                    User.platform == owner.platform,
                    User.workspace_id == owner.workspace,
                    User.user_id == owner.user,
                    UserApiKey.provider == provider_id,
                )
            )
        if row is None:
            raise KeyNotFoundError(provider_id)
        return self._keyring.open(Sealed(row.encrypted_key, row.master_key_id), owner, provider_id)

    def open_sealed(self, owner: UserRef, provider_id: str, sealed: Sealed) -> Secret:
        """Decrypt a ciphertext already read (see :mod:`byok.user_state`)."""
        return self._keyring.open(sealed, owner, provider_id)

    async def list(self, owner: UserRef) -> list[StoredKey]:
        async with self._db.session() as session:
            user_ref = await get_user_id(session, owner)
            if user_ref is None:
                return []
            rows = await session.scalars(
                select(UserApiKey)
                .where(UserApiKey.user_ref == user_ref)
                .order_by(UserApiKey.provider)
            )
            return [stored_key(r) for r in rows]

    async def get(self, owner: UserRef, provider_id: str) -> StoredKey | None:
        return next((k for k in await self.list(owner) if k.provider_id == provider_id), None)

    async def remove(self, owner: UserRef, provider_id: str) -> bool:
        async with self._db.session() as session:
            user_ref = await get_user_id(session, owner)
            if user_ref is None:
                return False
            result = await session.execute(
                delete(UserApiKey).where(
                    UserApiKey.user_ref == user_ref, UserApiKey.provider == provider_id
                )
            )
            if result.rowcount:  # type: ignore[attr-defined]
                await announce_user_change(session, owner)
        self._changed(owner)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def update(self, owner: UserRef, provider_id: str, **fields: object) -> StoredKey:
        """Change settings of a stored key (is_active, is_valid, monthly_limit, ...)."""
        allowed = {
            "is_active",
            "is_valid",
            "invalid_reason",
            "monthly_limit",
            "allowed_models",
            "label",
            "last_validated_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        async with self._db.session() as session:
            user_ref = await get_user_id(session, owner)
            row = None
            if user_ref is not None:
                row = await session.scalar(
                    select(UserApiKey).where(
                        UserApiKey.user_ref == user_ref, UserApiKey.provider == provider_id
                    )
                )
            if row is None:
                raise KeyNotFoundError(provider_id)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = self._clock()
            await session.flush()
            stored = stored_key(row)
            await announce_user_change(session, owner)
        self._changed(owner)
        return stored

    def readable(self, key: StoredKey) -> bool:
        """Whether a master key this process holds sealed the key."""
        return key.master_key_id in self._keyring.key_ids

    async def unreadable_counts(self) -> dict[str, int]:
        """Stored keys by the master key id that sealed them, for ids not configured."""
        counts = await self.count_by_master_key()
        return {key_id: n for key_id, n in counts.items() if key_id not in self._keyring.key_ids}

    async def count_by_master_key(self) -> dict[str, int]:
        async with self._db.session() as session:
            rows = await session.execute(
                select(UserApiKey.master_key_id, func.count()).group_by(UserApiKey.master_key_id)
            )
            return {key_id: count for key_id, count in rows}

    async def rotate(self, *, batch_size: int = 100, max_rows: int | None = None) -> RotationReport:
        """Re-encrypt every key not yet under the current master key.

        Each row is re-sealed in its own short transaction, so an interrupted run leaves
        every row readable (old or new) and a second run finishes the job. The write is
        guarded by the exact ciphertext that was read: a key its user replaced meanwhile
        is never overwritten with the old one (it is read again if it still needs
        re-sealing). ``max_rows`` bounds one run (for tests and very large tables).
        """
        current = self._keyring.current.key_id
        rotated = unreadable = changed = 0
        skipped_ids: set[int] = set()
        while max_rows is None or rotated < max_rows:
            async with self._db.session() as session:
                batch = (
                    await session.execute(
                        select(UserApiKey, User)
                        .join(User, User.id == UserApiKey.user_ref)
                        .where(UserApiKey.master_key_id != current)
                        .where(UserApiKey.id.not_in(skipped_ids) if skipped_ids else true())
                        .order_by(UserApiKey.id)
                        .limit(batch_size)
                    )
                ).all()
            if not batch:
                break
            for row, user in batch:
                if max_rows is not None and rotated >= max_rows:
                    break
                owner = UserRef(user.platform, user.workspace_id, user.user_id)
                try:
                    sealed = self._keyring.reseal(
                        Sealed(row.encrypted_key, row.master_key_id), owner, row.provider
                    )
                except KeyDecryptError:
                    unreadable += 1
                    skipped_ids.add(row.id)
                    continue
                async with self._db.session() as session:
                    result = await session.execute(
                        update(UserApiKey)
                        .where(
                            UserApiKey.id == row.id,
                            UserApiKey.master_key_id == row.master_key_id,
                            UserApiKey.encrypted_key == row.encrypted_key,
                        )
                        .values(encrypted_key=sealed.blob, master_key_id=sealed.master_key_id)
                    )
                    if result.rowcount:  # type: ignore[attr-defined]
                        await announce_user_change(session, owner)
                if result.rowcount:  # type: ignore[attr-defined]
                    rotated += 1
                else:
                    changed += 1
        self._changed(None)
        counts = await self.count_by_master_key()
        return RotationReport(
            rotated=rotated,
            already_current=counts.get(current, 0) - rotated,
            unreadable=unreadable,
            changed_meanwhile=changed,
        )
