"""The database schema: users, their keys, preferences, usage, and the bot's logs.

The first three tables follow the original product (user API keys, user AI
preferences, usage tracking). Users are identified by platform + workspace + user id.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from byok.db.columns import Money, UTCDateTime

__all__ = [
    "AlertLog",
    "Base",
    "BotInstance",
    "ConversationMessage",
    "DigestLog",
    "DiscordShardLease",
    "HandledEvent",
    "RateBucket",
    "ResponseCacheEntry",
    "SlackInstallation",
    "UsageEvent",
    "User",
    "UserAIPreferences",
    "UserApiKey",
]

# Stable constraint names so Alembic migrations read the same on both databases.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit integers on both databases: BIGINT on PostgreSQL; on SQLite a plain INTEGER, which
# is 64-bit already and the only type SQLite auto-increments as a primary key.
Int64 = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Decimal: Money(),
    }


class User(Base):
    """A chat user: unique by platform, workspace (Slack team / Discord guild) and user id."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class UserApiKey(Base):
    """One encrypted provider key of one user. Only the last four characters are in clear."""

    __tablename__ = "user_api_keys"
    __table_args__ = (UniqueConstraint("user_ref", "provider"),)

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    user_ref: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(64))
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32), index=True)
    key_last4: Mapped[str] = mapped_column(String(4))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    is_valid: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    invalid_reason: Mapped[str | None] = mapped_column(String(32))
    monthly_limit: Mapped[Decimal | None]
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    last_validated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UserAIPreferences(Base):
    """How a user's requests are routed and what the bot may keep or send them."""

    __tablename__ = "user_ai_preferences"

    user_ref: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    default_provider: Mapped[str | None] = mapped_column(String(32))
    fallback_provider: Mapped[str | None] = mapped_column(String(32))
    preferred_models: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    auto_switch_provider: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    max_tokens_per_request: Mapped[int | None] = mapped_column(Integer)
    enable_cost_optimization: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    store_conversation_history: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    notify_on_quota_low: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    weekly_digest: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    digest_when_empty: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    cache_answers: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: Seconds a cached answer is served; NULL: the operator's default.
    cache_ttl_s: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class UsageEvent(Base):
    """One attempt at one provider: written when the attempt starts, finished when it ends.

    ``outcome`` is ``pending`` while the call runs (``reserved_cost`` holds its
    worst-case cost, so concurrent requests see it against the monthly limit), then
    ``success``, ``error`` or ``cancelled``. ``cost`` is NULL when the price is unknown.
    A question answered from the user's response cache is no provider attempt: its one
    row is written ``cached`` at once, with cost 0 and ``saved_cost`` what the original
    answer cost (NULL: unknown).
    """

    __tablename__ = "usage_events"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('pending', 'success', 'error', 'cancelled', 'cached')", name="outcome"
        ),
        Index("ix_usage_events_user_ref_created_at", "user_ref", "created_at"),
        Index("ix_usage_events_created_at_user_ref", "created_at", "user_ref"),
        # Few rows: what UsageLedger.close_abandoned reads at every start and hourly.
        Index(
            "ix_usage_events_pending",
            "created_at",
            sqlite_where=text("outcome = 'pending'"),
            postgresql_where=text("outcome = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    user_ref: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    request_id: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    key_source: Mapped[str] = mapped_column(String(16))  # "user" or "operator"
    request_kind: Mapped[str] = mapped_column(String(16))  # chat, stream, summary, ...
    is_fallback: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    outcome: Mapped[str] = mapped_column(String(16))
    error_kind: Mapped[str | None] = mapped_column(String(32))
    # 64-bit: a provider may report more than 2**31 tokens (migration 0004).
    input_tokens: Mapped[int] = mapped_column(Int64, server_default=text("0"))
    output_tokens: Mapped[int] = mapped_column(Int64, server_default=text("0"))
    # Parts of input_tokens: read from the provider's prompt cache, and written to it
    # (NULL: a row from before writes were recorded, migration 0007).
    cached_input_tokens: Mapped[int] = mapped_column(Int64, server_default=text("0"))
    cache_write_tokens: Mapped[int | None] = mapped_column(Int64)
    reasoning_tokens: Mapped[int] = mapped_column(Int64, server_default=text("0"))
    cost: Mapped[Decimal | None]
    reserved_cost: Mapped[Decimal | None]
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    #: A ``cached`` row: what the answer cost when it was first asked (NULL: unknown).
    saved_cost: Mapped[Decimal | None]

    @property
    def success(self) -> bool:
        return self.outcome == "success"


class ResponseCacheEntry(Base):
    """One answer kept for its asker, sealed like a key (see :mod:`byok.response_cache`).

    ``key_hash`` is an HMAC of the request under a key derived from the master key and
    the owner, so equal questions of two users have unrelated hashes. The answer, its
    model, usage and cost are in ``sealed`` only (AES-256-GCM, bound to owner, provider
    and ``key_hash``).
    """

    __tablename__ = "response_cache"
    __table_args__ = (
        UniqueConstraint("user_ref", "key_hash"),
        Index("ix_response_cache_user_ref_created_at", "user_ref", "created_at"),
    )

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    user_ref: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)  # bytes of ``sealed``
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DigestLog(Base):
    """A weekly digest claimed for one user and week; the unique pair makes it once-only."""

    __tablename__ = "digest_log"
    __table_args__ = (UniqueConstraint("user_ref", "period_start"),)

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    user_ref: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # claimed, sent, failed, undeliverable
    claimed_by: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    last_error: Mapped[str | None] = mapped_column(String(200))


class AlertLog(Base):
    """A spend alert (80% or 100% of a monthly limit), at most once per key and month."""

    __tablename__ = "alert_log"
    __table_args__ = (UniqueConstraint("user_ref", "provider", "month", "threshold"),)

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    user_ref: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    month: Mapped[date] = mapped_column(Date)
    threshold: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'claimed'"))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ConversationMessage(Base):
    """A message of a thread, kept only for users who allowed history."""

    __tablename__ = "conversation_messages"
    __table_args__ = (Index("ix_conversation_messages_thread", "user_ref", "thread_key", "id"),)

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    user_ref: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    thread_key: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    token_estimate: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class SlackInstallation(Base):
    """A workspace (or Enterprise Grid org) that installed the Slack app by OAuth.

    Its tokens are sealed like users' keys; ``enterprise_id`` and ``team_id`` are ``""``
    when absent (an org-wide install has no team), so the unique pair holds on both
    databases.
    """

    __tablename__ = "slack_installations"
    __table_args__ = (UniqueConstraint("enterprise_id", "team_id"),)

    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32), index=True)
    installed_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BotInstance(Base):
    """A running ``byok-bot run`` process, seen while it keeps ``seen_until`` in the future.

    Times in the coordination tables are seconds since the epoch by the *database's*
    clock (see :func:`byok.db.clock.db_seconds`), so instances on hosts whose clocks
    disagree still agree on who is alive and whose lease has run out.
    """

    __tablename__ = "bot_instances"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # name/random suffix
    name: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[float] = mapped_column(Double)
    seen_until: Mapped[float] = mapped_column(Double, index=True)
    #: The Discord shards it holds ("0-3,7"); NULL for an instance that runs no Discord.
    discord_shards: Mapped[str | None] = mapped_column(String(400))


class DiscordShardLease(Base):
    """One Discord gateway shard; the row count is the shard count all instances use.

    ``holder`` connects the shard while ``lease_until`` is in the future; ``epoch`` grows
    with every new holder, so a renewal by an instance that lost the lease changes nothing.
    """

    __tablename__ = "discord_shard_leases"

    shard_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(96))
    lease_until: Mapped[float] = mapped_column(Double, server_default=text("0"))
    epoch: Mapped[int] = mapped_column(Int64, server_default=text("0"))


class RateBucket(Base):
    """A rate limit shared by every instance (GCRA: the theoretical arrival time).

    ``scope`` names the limit (``ask`` per user, ``slack.edit`` per workspace);
    ``subject`` whom it limits.
    """

    __tablename__ = "rate_buckets"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = mapped_column(Double, index=True)


class HandledEvent(Base):
    """A platform event some instance took; a second delivery (retry, failover) is dropped."""

    __tablename__ = "handled_events"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    seen_at: Mapped[float] = mapped_column(Double, index=True)
