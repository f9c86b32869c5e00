"""The response cache: an identical question from the same user, answered again for free.

Opt-in per user (``Preferences.cache_answers``), switched on or off for the whole
deployment by the operator (:class:`CacheSettings`). An entry is found by
``key_hash``: an HMAC-SHA256 of a canonical JSON of the request (provider, model asked,
messages, max tokens, temperature) under a key derived from the master key and the
owner — equal questions of two users have unrelated hashes, and the table says nothing
about who asked the same thing. The answer, the model that served it, its usage and cost
are sealed like a key (AES-256-GCM, :meth:`byok.vault.Keyring.seal_bytes`) with
associated data of their own domain binding owner, provider and ``key_hash``: a cache
blob opens neither as a key nor as another user's or another question's entry.

Only complete answers are kept (a finish reason that says the model was done; not cut
off at the token limit, not interrupted). Entries expire after the user's TTL (the
operator's default unless the user set one); expired rows are deleted lazily (when
found, and on every store for that user), and each user keeps at most
``max_entries_per_user`` entries, the oldest evicted first. A change of master key
makes every entry unreachable (its hash changes): ``byok-bot keys rotate`` deletes them
(the old key still opens them), else they go as they expire or are evicted, and a
``/byok prefs cache clear`` deletes them at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, exists, func, insert, literal, select
from sqlalchemy.exc import SQLAlchemyError

from byok.clock import Clock
from byok.db.database import Database
from byok.db.tables import ResponseCacheEntry, UserAIPreferences
from byok.errors import StorageError
from byok.types import ChatMessage, Usage, UserRef
from byok.users import get_user_id
from byok.vault import Keyring, Sealed, cache_associated_data

__all__ = [
    "COMPLETE_FINISH_REASONS",
    "CacheSettings",
    "CachedAnswer",
    "ResponseCache",
    "delete_sealed_under_other_keys",
    "is_complete",
]

log = logging.getLogger(__name__)

#: Finish reasons that say the model was done (OpenAI-compatible, Anthropic, Gemini).
COMPLETE_FINISH_REASONS = frozenset({"stop", "end_turn", "stop_sequence"})

_HASH_PURPOSE = b"byok-bot response cache key v1"
_PAYLOAD_VERSION = 1
_CACHE = ResponseCacheEntry.__table__.c
_PREFS = UserAIPreferences.__table__.c


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """The operator's switch and bounds (``[cache]`` in the config)."""

    enabled: bool = True
    #: Entries kept per user; the oldest is evicted first.
    max_entries_per_user: int = 200
    #: Longer answers are not kept.
    max_answer_chars: int = 32_000
    #: How long an answer is served when the user set no TTL of their own.
    default_ttl_s: int = 86_400
    #: The longest TTL a user may choose.
    max_ttl_s: int = 30 * 86_400

    def ttl_s(self, chosen: int | None) -> int:
        """The TTL that applies to a user who chose ``chosen`` (None: the default)."""
        return min(chosen if chosen is not None else self.default_ttl_s, self.max_ttl_s)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """An answer as it was first given: by whom, its usage and its cost (None: unknown)."""

    text: str
    provider_id: str
    model: str
    usage: Usage
    cost: Decimal | None
    finish_reason: str | None
    created_at: datetime


def is_complete(finish_reason: str | None) -> bool:
    """The model said it was done: not cut off, filtered, or of unknown end."""
    return (finish_reason or "").lower() in COMPLETE_FINISH_REASONS


def canonical_request(
    provider_id: str,
    model: str,
    messages: Sequence[ChatMessage],
    max_tokens: int | None,
    temperature: float | None,
) -> bytes:
    """The request as one canonical JSON text: equal requests, equal bytes."""
    fields: dict[str, object] = {
        "v": 1,
        "provider": provider_id,
        "model": model,
        "messages": [[m.role, m.content] for m in messages],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if any(m.images for m in messages):
        # The same words about another picture are another question: each image counts
        # by its digest (a request without images keeps the key it always had).
        fields["images"] = [
            [hashlib.sha256(i.data).hexdigest() for i in m.images] for m in messages
        ]
    return json.dumps(
        fields,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def _payload(answer: CachedAnswer) -> bytes:
    usage = answer.usage
    return json.dumps(
        {
            "v": _PAYLOAD_VERSION,
            "text": answer.text,
            "model": answer.model,
            "cost": None if answer.cost is None else str(answer.cost),
            "finish": answer.finish_reason,
            "usage": [
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens,
                usage.cache_write_tokens,
                usage.reasoning_tokens,
                usage.reported,
            ],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def _answer(plain: bytes, provider_id: str, created_at: datetime) -> CachedAnswer | None:
    try:
        data = json.loads(plain)
        if data.get("v") != _PAYLOAD_VERSION:
            return None
        tokens_in, tokens_out, cached_in, cache_write, reasoning, reported = data["usage"]
        return CachedAnswer(
            text=str(data["text"]),
            provider_id=provider_id,
            model=str(data["model"]),
            usage=Usage(
                input_tokens=int(tokens_in),
                output_tokens=int(tokens_out),
                cached_input_tokens=int(cached_in),
                cache_write_tokens=int(cache_write),
                reasoning_tokens=int(reasoning),
                reported=bool(reported),
            ),
            cost=None if data["cost"] is None else Decimal(data["cost"]),
            finish_reason=data.get("finish"),
            created_at=created_at,
        )
    except (ValueError, TypeError, KeyError, ArithmeticError):
        return None


async def delete_sealed_under_other_keys(database: Database, current_key_id: str) -> int:
    """Delete every cached answer not sealed under ``current_key_id``; how many there were.

    Such an answer is never served again (its name is an HMAC under the current key), but
    the old master key still opens it: ``byok-bot keys rotate`` deletes them, so that
    retiring a master key that may be exposed leaves nothing it can read.
    """
    async with database.transaction() as connection:
        result = await connection.execute(
            delete(ResponseCacheEntry).where(_CACHE.master_key_id != current_key_id)
        )
    return int(result.rowcount)


_LOOKUP = select(
    _CACHE.id, _CACHE.sealed, _CACHE.master_key_id, _CACHE.created_at, _CACHE.expires_at
)


class ResponseCache:
    """Lookups, stores and clears of users' cached answers; shared by every user."""

    def __init__(
        self, database: Database, keyring: Keyring, clock: Clock, settings: CacheSettings
    ) -> None:
        self._db = database
        self._keyring = keyring
        self._clock = clock
        self.settings = settings

    def key_hash(
        self,
        owner: UserRef,
        provider_id: str,
        model: str,
        messages: Sequence[ChatMessage],
        max_tokens: int | None,
        temperature: float | None,
    ) -> str:
        """The entry's name: an HMAC of the request under a key of this owner's alone."""
        key = self._keyring.owner_key(owner, _HASH_PURPOSE)
        body = canonical_request(provider_id, model, messages, max_tokens, temperature)
        return hmac.new(key, body, hashlib.sha256).hexdigest()

    async def lookup(
        self, owner: UserRef, user_ref: int, provider_id: str, key_hash: str, ttl_s: int
    ) -> CachedAnswer | None:
        """The answer kept for this request, if younger than ``ttl_s`` and not expired.

        An entry found too old, or one that no longer opens (another master key), is
        deleted on the way.
        """
        now = self._clock()
        try:
            return await self._lookup(owner, user_ref, provider_id, key_hash, ttl_s, now)
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("the response cache could not be read: %s", type(exc).__name__)
            return None

    async def _lookup(
        self,
        owner: UserRef,
        user_ref: int,
        provider_id: str,
        key_hash: str,
        ttl_s: int,
        now: datetime,
    ) -> CachedAnswer | None:
        async with self._db.single_statements() as connection:
            row = (
                await connection.execute(
                    _LOOKUP.where(_CACHE.user_ref == user_ref, _CACHE.key_hash == key_hash)
                )
            ).first()
            if row is None:
                return None
            entry_id, blob, key_id, created_at, expires_at = row
            found = None
            if now < expires_at and now < created_at + timedelta(seconds=ttl_s):
                associated = cache_associated_data(owner, provider_id, key_hash)
                plain = self._keyring.open_bytes(Sealed(blob, key_id), associated)
                found = None if plain is None else _answer(plain, provider_id, created_at)
            if found is None:
                await connection.execute(delete(ResponseCacheEntry).where(_CACHE.id == entry_id))
            return found

    async def put(
        self,
        owner: UserRef,
        user_ref: int,
        key_hash: str,
        answer: CachedAnswer,
        ttl_s: int,
    ) -> bool:
        """Keep ``answer`` for this request (replacing any); whether it was kept.

        Incomplete or overlong answers are not kept. The user's expired entries are
        deleted, and the oldest beyond the operator's bound. A database failure is
        logged and the answer simply not kept: the cache never costs anyone an answer.
        """
        if not is_complete(answer.finish_reason) or not answer.text:
            return False
        if len(answer.text) > self.settings.max_answer_chars or ttl_s <= 0:
            return False
        now = self._clock()
        associated = cache_associated_data(owner, answer.provider_id, key_hash)
        sealed = self._keyring.seal_bytes(_payload(answer), associated)
        mine = _CACHE.user_ref == user_ref
        try:
            async with self._db.transaction() as connection:
                await connection.execute(
                    delete(ResponseCacheEntry).where(
                        mine, (_CACHE.key_hash == key_hash) | (_CACHE.expires_at <= now)
                    )
                )
                values = {
                    "user_ref": user_ref,
                    "key_hash": key_hash,
                    "provider": answer.provider_id,
                    "sealed": sealed.blob,
                    "master_key_id": sealed.master_key_id,
                    "size": len(sealed.blob),
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=ttl_s),
                }
                # Only while the user still has the cache on: the request may have been
                # asked before they turned it off (and their answers were deleted).
                still_on = exists().where(_PREFS.user_ref == user_ref, _PREFS.cache_answers)
                kept = await connection.execute(
                    insert(ResponseCacheEntry).from_select(
                        list(values),
                        select(*(literal(v, _CACHE[k].type) for k, v in values.items())).where(
                            still_on
                        ),
                    )
                )
                if not kept.rowcount:
                    return False
                keep = self.settings.max_entries_per_user
                count = await connection.scalar(
                    select(func.count()).select_from(ResponseCacheEntry).where(mine)
                )
                if count is not None and count > keep:
                    oldest = (
                        select(_CACHE.id)
                        .where(mine)
                        .order_by(_CACHE.created_at, _CACHE.id)
                        .limit(count - keep)
                    )
                    await connection.execute(
                        delete(ResponseCacheEntry).where(_CACHE.id.in_(oldest.scalar_subquery()))
                    )
        except (SQLAlchemyError, StorageError) as exc:
            log.warning("an answer was not cached: %s", type(exc).__name__)
            return False
        return True

    async def clear(self, owner: UserRef) -> int:
        """Delete every cached answer of ``owner``; how many there were."""
        async with self._db.session() as session:
            user_ref = await get_user_id(session, owner)
            if user_ref is None:
                return 0
            result = await session.execute(
                delete(ResponseCacheEntry).where(_CACHE.user_ref == user_ref)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
