"""The response cache: answers kept (sealed) for the user who asked, and cached usage rows.

A new table ``response_cache``; two preferences (``cache_answers``, ``cache_ttl_s``);
usage rows gain the outcome ``cached`` (a question answered from the cache: no provider
was called) and ``saved_cost``, what the cached answer cost when first asked (NULL:
unknown). On SQLite the outcome check is changed by copying ``usage_events`` (SQLite
cannot alter a constraint); its indexes, the partial one of pending rows included, are
made again as they were.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD = "outcome IN ('pending', 'success', 'error', 'cancelled')"
_NEW = "outcome IN ('pending', 'success', 'error', 'cancelled', 'cached')"
_PENDING = sa.text("outcome = 'pending'")


def _outcomes(check: str) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # The copy would lose the partial index's WHERE: it is made again below.
        op.drop_index("ix_usage_events_pending", table_name="usage_events")
    with op.batch_alter_table("usage_events", recreate="always" if sqlite else "auto") as batch:
        batch.drop_constraint(op.f("ck_usage_events_outcome"), type_="check")
        batch.create_check_constraint("outcome", sa.text(check))
    if sqlite:
        op.create_index(
            "ix_usage_events_pending",
            "usage_events",
            ["created_at"],
            sqlite_where=_PENDING,
        )


def upgrade() -> None:
    op.create_table(
        "response_cache",
        sa.Column("id", _INT64, nullable=False),
        sa.Column("user_ref", _INT64, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_ref"],
            ["users.id"],
            name=op.f("fk_response_cache_user_ref_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response_cache")),
        sa.UniqueConstraint(
            "user_ref", "key_hash", name=op.f("uq_response_cache_user_ref_key_hash")
        ),
    )
    op.create_index(
        "ix_response_cache_user_ref_created_at", "response_cache", ["user_ref", "created_at"]
    )
    op.create_index(op.f("ix_response_cache_expires_at"), "response_cache", ["expires_at"])
    with op.batch_alter_table("user_ai_preferences") as batch:
        batch.add_column(
            sa.Column(
                "cache_answers", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
        batch.add_column(sa.Column("cache_ttl_s", sa.Integer(), nullable=True))
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("saved_cost", sa.BigInteger(), nullable=True))
    _outcomes(_NEW)


def downgrade() -> None:
    op.execute("DELETE FROM usage_events WHERE outcome = 'cached'")
    _outcomes(_OLD)
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("saved_cost")
    with op.batch_alter_table("user_ai_preferences") as batch:
        batch.drop_column("cache_ttl_s")
        batch.drop_column("cache_answers")
    op.drop_index(op.f("ix_response_cache_expires_at"), table_name="response_cache")
    op.drop_index("ix_response_cache_user_ref_created_at", table_name="response_cache")
    op.drop_table("response_cache")
