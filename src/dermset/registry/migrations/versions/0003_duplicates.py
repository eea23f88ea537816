"""duplicates: perceptual fingerprints and verified candidate pairs (issue 3, duplicates).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_fingerprint",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"]),
        sa.PrimaryKeyConstraint("image_id"),
    )
    op.create_table(
        "duplicate_pair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_a", sa.Integer(), nullable=False),
        sa.Column("image_b", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("verdict", sa.String(length=12), nullable=False),
        sa.Column("hash_distance", sa.Integer(), nullable=True),
        sa.Column("inliers", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("transform", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_a"], ["image.id"]),
        sa.ForeignKeyConstraint(["image_b"], ["image.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_a", "image_b"),
    )
    op.create_index("ix_duplicate_pair_image_a", "duplicate_pair", ["image_a"])
    op.create_index("ix_duplicate_pair_image_b", "duplicate_pair", ["image_b"])
    op.create_index("ix_duplicate_pair_verdict", "duplicate_pair", ["verdict"])


def downgrade() -> None:
    op.drop_index("ix_duplicate_pair_verdict", table_name="duplicate_pair")
    op.drop_index("ix_duplicate_pair_image_b", table_name="duplicate_pair")
    op.drop_index("ix_duplicate_pair_image_a", table_name="duplicate_pair")
    op.drop_table("duplicate_pair")
    op.drop_table("image_fingerprint")
