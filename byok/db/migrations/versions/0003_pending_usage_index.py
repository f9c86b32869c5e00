"""A partial index on pending usage rows, for closing the ones a crashed process left.

The check runs whenever the bot starts and every hour; pending rows are few, so it reads
this small index instead of scanning the month of usage on created_at.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PENDING = sa.text("outcome = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_usage_events_pending",
        "usage_events",
        ["created_at"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_usage_events_pending", table_name="usage_events")
