"""verification: source labels, assignment origin, histopathology contradiction flag (issue 4).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_label",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("diagnosis", sa.String(length=16), nullable=True),
        sa.Column("diagnosis_isic", sa.String(length=512), nullable=True),
        sa.Column("benign_malignant", sa.String(length=16), nullable=True),
        sa.Column("diagnosis_confirm_type", sa.String(length=64), nullable=True),
        sa.Column("verification_stage", sa.String(length=16), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"]),
        sa.PrimaryKeyConstraint("image_id"),
    )
    with op.batch_alter_table("review_assignment") as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), server_default="planned", nullable=False)
        )
    with op.batch_alter_table("histopathology") as batch_op:
        batch_op.add_column(
            sa.Column(
                "contradicts_consensus", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("histopathology") as batch_op:
        batch_op.drop_column("contradicts_consensus")
    with op.batch_alter_table("review_assignment") as batch_op:
        batch_op.drop_column("origin")
    op.drop_table("source_label")
