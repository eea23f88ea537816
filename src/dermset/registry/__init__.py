"""Persistence: SQLAlchemy tables, Alembic migrations, the image store, the audit log."""
