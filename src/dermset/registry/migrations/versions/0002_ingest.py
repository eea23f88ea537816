"""ingest: SOP check results, image quality columns, ingest ledger and store intent log (issue 3).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image") as batch_op:
        batch_op.add_column(sa.Column("quality_verdict", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("quality_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("pixel_mean", sa.Float(), nullable=True))
    op.create_index("ix_image_size_mean", "image", ["width", "height", "pixel_mean"])
    op.create_table(
        "quality_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "check"),
    )
    op.create_index("ix_quality_check_image_id", "quality_check", ["image_id"])
    op.create_table(
        "ingest_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename_hmac", sa.String(length=64), nullable=False),
        sa.Column("content_hmac", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("dedup_done", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("filename_hmac", "content_hmac"),
    )
    op.create_index("ix_ingest_file_filename_hmac", "ingest_file", ["filename_hmac"])
    op.create_index("ix_ingest_file_image_id", "ingest_file", ["image_id"])
    op.create_table(
        "ingest_pending",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade() -> None:
    op.drop_table("ingest_pending")
    op.drop_index("ix_ingest_file_image_id", table_name="ingest_file")
    op.drop_index("ix_ingest_file_filename_hmac", table_name="ingest_file")
    op.drop_table("ingest_file")
    op.drop_index("ix_quality_check_image_id", table_name="quality_check")
    op.drop_table("quality_check")
    op.drop_index("ix_image_size_mean", table_name="image")
    with op.batch_alter_table("image") as batch_op:
        batch_op.drop_column("pixel_mean")
        batch_op.drop_column("quality_score")
        batch_op.drop_column("quality_verdict")
