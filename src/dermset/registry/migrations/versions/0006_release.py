"""release: release additions (issue 6).

Reserved slot in the migration chain so that work on separate capabilities does not fork the
chain; filled by that capability's change.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
