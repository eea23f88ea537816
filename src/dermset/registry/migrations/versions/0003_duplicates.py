"""duplicates: duplicate groups and perceptual fingerprints (issue 3, duplicates).

Reserved slot in the migration chain so that work on separate capabilities does not fork the
chain; filled by that capability's change.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
