"""Initial schema: users, keys, preferences, usage, digest and alert logs, history.

Money columns hold integer nano-dollars; timestamps are UTC.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint(
            "platform",
            "workspace_id",
            "user_id",
            name=op.f("uq_users_platform_workspace_id_user_id"),
        ),
    )
    op.create_table(
        "alert_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'claimed'"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_ref"], ["users.id"], name=op.f("fk_alert_log_user_ref_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_log")),
        sa.UniqueConstraint(
            "user_ref",
            "provider",
            "month",
            "threshold",
            name=op.f("uq_alert_log_user_ref_provider_month_threshold"),
        ),
    )
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("thread_key", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("token_estimate", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_ref"],
            ["users.id"],
            name=op.f("fk_conversation_messages_user_ref_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
    )
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_messages_thread", ["user_ref", "thread_key", "id"], unique=False
        )

    op.create_table(
        "digest_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_ref"],
            ["users.id"],
            name=op.f("fk_digest_log_user_ref_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_log")),
        sa.UniqueConstraint(
            "user_ref", "period_start", name=op.f("uq_digest_log_user_ref_period_start")
        ),
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("key_source", sa.String(length=16), nullable=False),
        sa.Column("request_kind", sa.String(length=16), nullable=False),
        sa.Column("is_fallback", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("input_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=True),
        sa.Column("reserved_cost", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('pending', 'success', 'error', 'cancelled')",
            name=op.f("ck_usage_events_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["user_ref"],
            ["users.id"],
            name=op.f("fk_usage_events_user_ref_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_events_created_at_user_ref", ["created_at", "user_ref"], unique=False
        )
        batch_op.create_index(
            "ix_usage_events_user_ref_created_at", ["user_ref", "created_at"], unique=False
        )

    op.create_table(
        "user_ai_preferences",
        sa.Column("user_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("default_provider", sa.String(length=32), nullable=True),
        sa.Column("fallback_provider", sa.String(length=32), nullable=True),
        sa.Column("preferred_models", sa.JSON(), nullable=False),
        sa.Column(
            "auto_switch_provider", sa.Boolean(), server_default=sa.text("(true)"), nullable=False
        ),
        sa.Column("max_tokens_per_request", sa.Integer(), nullable=True),
        sa.Column(
            "enable_cost_optimization",
            sa.Boolean(),
            server_default=sa.text("(false)"),
            nullable=False,
        ),
        sa.Column(
            "store_conversation_history",
            sa.Boolean(),
            server_default=sa.text("(false)"),
            nullable=False,
        ),
        sa.Column(
            "notify_on_quota_low", sa.Boolean(), server_default=sa.text("(true)"), nullable=False
        ),
        sa.Column("weekly_digest", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column(
            "digest_when_empty", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_ref"],
            ["users.id"],
            name=op.f("fk_user_ai_preferences_user_ref_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_ref", name=op.f("pk_user_ai_preferences")),
    )
    op.create_table(
        "user_api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("encrypted_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=32), nullable=False),
        sa.Column("key_last4", sa.String(length=4), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("is_valid", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("invalid_reason", sa.String(length=32), nullable=True),
        sa.Column("monthly_limit", sa.BigInteger(), nullable=True),
        sa.Column("allowed_models", sa.JSON(), nullable=True),
        sa.Column("last_validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_ref"],
            ["users.id"],
            name=op.f("fk_user_api_keys_user_ref_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_api_keys")),
        sa.UniqueConstraint(
            "user_ref", "provider", name=op.f("uq_user_api_keys_user_ref_provider")
        ),
    )
    with op.batch_alter_table("user_api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_api_keys_master_key_id"), ["master_key_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("user_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_api_keys_master_key_id"))

    op.drop_table("user_api_keys")
    op.drop_table("user_ai_preferences")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_user_ref_created_at")
        batch_op.drop_index("ix_usage_events_created_at_user_ref")

    op.drop_table("usage_events")
    op.drop_table("digest_log")
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_messages_thread")

    op.drop_table("conversation_messages")
    op.drop_table("alert_log")
    op.drop_table("users")
