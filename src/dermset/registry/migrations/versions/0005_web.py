"""web: web accounts and sessions (issue 5).

Reserved slot in the migration chain so that work on separate capabilities does not fork the
chain; filled by that capability's change.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
