"""Usage token counts become 64-bit: a provider may report more than 2**31 tokens.

On PostgreSQL the four token columns of usage_events go from INTEGER to BIGINT (a table
rewrite, under an exclusive lock while it runs). SQLite's INTEGER is 64-bit already and
the model declares it so there: nothing changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in _TOKEN_COLUMNS:
        op.alter_column(
            "usage_events",
            column,
            type_=new,
            existing_type=old,
            existing_nullable=False,
            existing_server_default=sa.text("0"),
        )


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
