"""Tables through which several instances act as one bot.

``bot_instances`` (who is running), ``discord_shard_leases`` (which instance connects
which gateway shard), ``rate_buckets`` (rate limits shared by every instance) and
``handled_events`` (a platform event answered once, whichever instance got it). Times are
seconds since the epoch by the database's clock.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_instances",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("seen_until", sa.Double(), nullable=False),
        sa.Column("discord_shards", sa.String(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_instances")),
    )
    op.create_index(op.f("ix_bot_instances_seen_until"), "bot_instances", ["seen_until"])
    op.create_table(
        "discord_shard_leases",
        sa.Column("shard_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=96), nullable=True),
        sa.Column("lease_until", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "epoch",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("shard_id", name=op.f("pk_discord_shard_leases")),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("tat", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_rate_buckets")),
    )
    op.create_index(op.f("ix_rate_buckets_tat"), "rate_buckets", ["tat"])
    op.create_table(
        "handled_events",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("seen_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_handled_events")),
    )
    op.create_index(op.f("ix_handled_events_seen_at"), "handled_events", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_handled_events_seen_at"), table_name="handled_events")
    op.drop_table("handled_events")
    op.drop_index(op.f("ix_rate_buckets_tat"), table_name="rate_buckets")
    op.drop_table("rate_buckets")
    op.drop_table("discord_shard_leases")
    op.drop_index(op.f("ix_bot_instances_seen_until"), table_name="bot_instances")
    op.drop_table("bot_instances")
