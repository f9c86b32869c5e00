"""Chat-app installations (Slack OAuth installs): one sealed record per workspace or org.

The record is whatever the adapter needs to act in that workspace (tokens included), as
JSON sealed with the vault under the same master key as users' keys, bound to its
workspace. Nothing here knows Slack's SDK: the adapter maps its own objects to dicts.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, true, update
from sqlalchemy.exc import IntegrityError

from byok.clock import Clock, utc_now
from byok.db.database import Database
from byok.db.tables import SlackInstallation
from byok.errors import KeyDecryptError
from byok.secret import Secret
from byok.types import UserRef
from byok.vault import Keyring, Sealed

__all__ = ["InstallationStore"]

_PURPOSE = "slack-installation"


def _owner(enterprise_id: str, team_id: str) -> UserRef:
    return UserRef("slack", f"{enterprise_id}/{team_id}", "installation")


class InstallationStore:
    """Save, find and delete installations; ``None`` ids are stored as ``""``."""

    def __init__(self, database: Database, keyring: Keyring, clock: Clock = utc_now) -> None:
        self._db = database
        self._keyring = keyring
        self._clock = clock

    async def save(
        self, enterprise_id: str | None, team_id: str | None, data: dict[str, Any]
    ) -> None:
        ent, team = enterprise_id or "", team_id or ""
        sealed = self._keyring.seal(Secret(json.dumps(data)), _owner(ent, team), _PURPOSE)
        now = self._clock()
        for _attempt in range(2):
            try:
                async with self._db.session() as session:
                    row = await session.scalar(
                        select(SlackInstallation).where(
                            SlackInstallation.enterprise_id == ent,
                            SlackInstallation.team_id == team,
                        )
                    )
                    if row is None:
                        row = SlackInstallation(enterprise_id=ent, team_id=team, installed_at=now)
                        session.add(row)
                    row.sealed, row.master_key_id, row.updated_at = (
                        sealed.blob,
                        sealed.master_key_id,
                        now,
                    )
                return
            except IntegrityError:
                continue  # another instance inserted it first: update that row instead

    async def find(self, enterprise_id: str | None, team_id: str | None) -> dict[str, Any] | None:
        ent, team = enterprise_id or "", team_id or ""
        async with self._db.session() as session:
            row = await session.scalar(
                select(SlackInstallation).where(
                    SlackInstallation.enterprise_id == ent, SlackInstallation.team_id == team
                )
            )
        if row is None:
            return None
        plain = self._keyring.open(
            Sealed(row.sealed, row.master_key_id), _owner(ent, team), _PURPOSE
        )
        data: dict[str, Any] = json.loads(plain.reveal())
        return data

    async def delete(self, enterprise_id: str | None, team_id: str | None) -> bool:
        async with self._db.session() as session:
            result = await session.execute(
                delete(SlackInstallation).where(
                    SlackInstallation.enterprise_id == (enterprise_id or ""),
                    SlackInstallation.team_id == (team_id or ""),
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def rotate(self) -> tuple[int, int]:
        """Re-seal records under the current master key: (re-sealed, unreadable and left).

        Like users' keys (:meth:`byok.keystore.KeyStore.rotate`), each record is written
        back only if its ciphertext is still the one read: a workspace re-installed
        meanwhile keeps its new tokens, and is read again if it still needs re-sealing.
        """
        current = self._keyring.current.key_id
        resealed = 0
        unreadable: set[int] = set()
        while True:
            async with self._db.session() as session:
                rows = (
                    await session.scalars(
                        select(SlackInstallation)
                        .where(SlackInstallation.master_key_id != current)
                        .where(SlackInstallation.id.not_in(unreadable) if unreadable else true())
                        .order_by(SlackInstallation.id)
                    )
                ).all()
            changed_meanwhile = 0
            for row in rows:
                sealed = self._resealed(row)
                if sealed is None:
                    unreadable.add(row.id)
                elif await self._write_if_unchanged(row, sealed):
                    resealed += 1
                else:
                    changed_meanwhile += 1
            if not changed_meanwhile:
                return resealed, len(unreadable)

    def _resealed(self, row: SlackInstallation) -> Sealed | None:
        try:
            return self._keyring.reseal(
                Sealed(row.sealed, row.master_key_id),
                _owner(row.enterprise_id, row.team_id),
                _PURPOSE,
            )
        except KeyDecryptError:
            return None

    async def _write_if_unchanged(self, row: SlackInstallation, sealed: Sealed) -> bool:
        async with self._db.session() as session:
            result = await session.execute(
                update(SlackInstallation)
                .where(
                    SlackInstallation.id == row.id,
                    SlackInstallation.master_key_id == row.master_key_id,
                    SlackInstallation.sealed == row.sealed,
                )
                .values(sealed=sealed.blob, master_key_id=sealed.master_key_id)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]
