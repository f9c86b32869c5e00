"""Usage rows record tokens written to a provider's prompt cache.

``usage_events`` gains ``cache_write_tokens``: the part of ``input_tokens`` that a
provider wrote to its prompt cache (Anthropic's ``cache_creation_input_tokens``; billed
above plain input). Tokens read from a cache are ``cached_input_tokens`` already. The
column is nullable: rows written before it existed did not record writes, and NULL says
so (unknown), where 0 would claim there were none.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("cache_write_tokens", _INT64, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("cache_write_tokens")
