"""verification: verification workflow additions (issue 4).

Reserved slot in the migration chain so that work on separate capabilities does not fork the
chain; filled by that capability's change.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
