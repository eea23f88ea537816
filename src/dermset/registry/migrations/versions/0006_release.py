"""release: version number and split spec of each release (issue 6).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("release") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("splits", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("release") as batch_op:
        batch_op.drop_column("splits")
        batch_op.drop_column("version")
