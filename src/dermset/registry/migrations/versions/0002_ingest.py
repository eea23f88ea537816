"""ingest: acquisition, SOP quality results, ingest batches (issue 3, pipeline).

Reserved slot in the migration chain so that work on separate capabilities does not fork the
chain; filled by that capability's change.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
