"""Finding or creating the row of a chat user."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from byok.db.tables import User
from byok.types import UserRef

__all__ = ["get_user_id", "user_id_or_create"]


async def get_user_id(session: AsyncSession, ref: UserRef) -> int | None:
    return await session.scalar(
        select(User.id).where(
            User.platform == ref.platform,
            User.workspace_id == ref.workspace,
            User.user_id == ref.user,
        )
    )


async def user_id_or_create(session: AsyncSession, ref: UserRef, now: datetime) -> int:
    """The user's row id, inserting it if needed; safe when two requests race."""
    existing = await get_user_id(session, ref)
    if existing is not None:
        return existing
    values = {
        "platform": ref.platform,
        "workspace_id": ref.workspace,
        "user_id": ref.user,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(User).values(**values).on_conflict_do_nothing())
    created = await get_user_id(session, ref)
    assert created is not None
    return created
