"""Storage: SQLAlchemy tables, engines and Alembic migrations."""

from byok.db.database import Database
from byok.db.migrate import current_revision, downgrade, head_revision, upgrade

__all__ = ["Database", "current_revision", "downgrade", "head_revision", "upgrade"]
