"""Conversation history per thread, kept only for users who allow it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import delete, select

from byok.clock import Clock, utc_now
from byok.db.database import Database
from byok.db.tables import ConversationMessage
from byok.types import ChatMessage, UserRef
from byok.users import get_user_id, user_id_or_create

__all__ = ["ConversationStore", "estimate_tokens"]

_KEEP_PER_THREAD = 200


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) + 4


class ConversationStore:
    def __init__(self, database: Database, clock: Clock = utc_now) -> None:
        self._db = database
        self._clock = clock

    async def append(
        self, owner: UserRef, thread_key: str, messages: Sequence[ChatMessage]
    ) -> None:
        now = self._clock()
        async with self._db.session() as session:
            user_ref = await user_id_or_create(session, owner, now)
            for message in messages:
                session.add(
                    ConversationMessage(
                        user_ref=user_ref,
                        thread_key=thread_key,
                        role=message.role,
                        content=_kept(message),
                        token_estimate=estimate_tokens(_kept(message)),
                        created_at=now,
                    )
                )
            await session.flush()
            # Bound the thread: drop the oldest messages past the cap.
            cutoff = await session.scalar(
                select(ConversationMessage.id)
                .where(
                    ConversationMessage.user_ref == user_ref,
                    ConversationMessage.thread_key == thread_key,
                )
                .order_by(ConversationMessage.id.desc())
                .offset(_KEEP_PER_THREAD)
                .limit(1)
            )
            if cutoff is not None:
                await session.execute(
                    delete(ConversationMessage).where(
                        ConversationMessage.user_ref == user_ref,
                        ConversationMessage.thread_key == thread_key,
                        ConversationMessage.id <= cutoff,
                    )
                )

    async def recent(self, owner: UserRef, thread_key: str, token_budget: int) -> list[ChatMessage]:
        """The latest messages of the thread that fit the budget, oldest first."""
        async with self._db.session() as session:
            user_ref = await get_user_id(session, owner)
            if user_ref is None or token_budget <= 0:
                return []
            rows = await session.execute(
                select(
                    ConversationMessage.role,
                    ConversationMessage.content,
                    ConversationMessage.token_estimate,
                )
                .where(
                    ConversationMessage.user_ref == user_ref,
                    ConversationMessage.thread_key == thread_key,
                )
                .order_by(ConversationMessage.id.desc())
                .limit(_KEEP_PER_THREAD)
            )
            kept: list[ChatMessage] = []
            used = 0
            for role, content, tokens in rows:
                if used + tokens > token_budget:
                    break
                used += tokens
                kept.append(ChatMessage(role, content))  # type: ignore[arg-type]
        kept.reverse()
        # A thread must not open with an assistant turn for some providers.
        while kept and kept[0].role == "assistant":
            kept.pop(0)
        return kept

    async def forget(self, owner: UserRef, thread_key: str | None = None) -> int:
        """Delete stored history (one thread, or all of the user's)."""
        async with self._db.session() as session:
            user_ref = await get_user_id(session, owner)
            if user_ref is None:
                return 0
            query = delete(ConversationMessage).where(ConversationMessage.user_ref == user_ref)
            if thread_key is not None:
                query = query.where(ConversationMessage.thread_key == thread_key)
            result = await session.execute(query)
            return int(result.rowcount)  # type: ignore[attr-defined]


def _kept(message: ChatMessage) -> str:
    """What history keeps of a message: its text, each image as a short placeholder
    (``[image: photo.png 1024x768]``) before it; an image's bytes are never stored, so a
    follow-up knows an image was there, not what it showed beyond the answer's words."""
    if not message.images:
        return message.content
    return "\n".join([*(image.placeholder for image in message.images), message.content])
