"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-04 16:27:25.973135
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_entity_key"), ["entity_key"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=40), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("fitzpatrick_skin_type", sa.String(length=4), nullable=True),
        sa.Column("day_shift", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pseudonym"),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_hmac", sa.String(length=64), nullable=True),
        sa.Column("row", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quarantine_source_hmac"), ["source_hmac"], unique=False
        )

    op.create_table(
        "release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("protocol_version", sa.String(length=32), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("n_images", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "lesion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=40), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("anatom_site_general", sa.String(length=32), nullable=True),
        sa.Column("clin_size_long_diam_mm", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pseudonym"),
    )
    with op.batch_alter_table("lesion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lesion_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "histopathology",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesion_id", sa.Integer(), nullable=False),
        sa.Column("diagnosis", sa.String(length=16), nullable=False),
        sa.Column("diagnosis_isic", sa.String(length=512), nullable=True),
        sa.Column("report_date", sa.Date(), nullable=True),
        sa.Column("lab_reference", sa.String(length=64), nullable=True),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesion_id"],
            ["lesion.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lesion_id"),
    )
    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=256), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("lesion_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pixel_sha256", sa.String(length=64), nullable=True),
        sa.Column("filename_hmac", sa.String(length=64), nullable=True),
        sa.Column("media_type", sa.String(length=32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("n_bytes", sa.BigInteger(), nullable=True),
        sa.Column("diagnosis", sa.String(length=16), nullable=True),
        sa.Column("diagnosis_isic", sa.String(length=512), nullable=True),
        sa.Column("benign_malignant", sa.String(length=16), nullable=True),
        sa.Column("diagnosis_confirm_type", sa.String(length=64), nullable=True),
        sa.Column("verification_stage", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["image.id"],
        ),
        sa.ForeignKeyConstraint(
            ["lesion_id"],
            ["lesion.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id"),
        sa.UniqueConstraint("source_id"),
    )
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_diagnosis"), ["diagnosis"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_filename_hmac"), ["filename_hmac"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_lesion_id"), ["lesion_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_pixel_sha256"), ["pixel_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_image_verification_stage"), ["verification_stage"], unique=False
        )

    op.create_table(
        "acquisition",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("age_approx", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("fitzpatrick_skin_type", sa.String(length=4), nullable=True),
        sa.Column("image_type", sa.String(length=32), nullable=True),
        sa.Column("dermoscopic_type", sa.String(length=32), nullable=True),
        sa.Column("acquisition_device", sa.String(length=256), nullable=True),
        sa.Column("acquisition_day", sa.Integer(), nullable=True),
        sa.Column("orientation", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
        ),
        sa.PrimaryKeyConstraint("image_id"),
    )
    op.create_table(
        "clinical_annotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("annotator", sa.String(length=64), nullable=False),
        sa.Column("diagnosis", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id"),
    )
    op.create_table(
        "consensus",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("diagnosis", sa.String(length=16), nullable=True),
        sa.Column("agreement", sa.Float(), nullable=True),
        sa.Column("n_reviews", sa.Integer(), nullable=False),
        sa.Column("adjudicator", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
        ),
        sa.PrimaryKeyConstraint("image_id"),
    )
    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("diagnosis", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "reviewer"),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_image_id"), ["image_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_reviewer"), ["reviewer"], unique=False)

    op.create_table(
        "review_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "reviewer"),
    )
    with op.batch_alter_table("review_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_assignment_image_id"), ["image_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_review_assignment_reviewer"), ["reviewer"], unique=False
        )

    op.create_table(
        "structure_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("annotator", sa.String(length=64), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "source", "annotator", "structure"),
    )
    with op.batch_alter_table("structure_finding", schema=None) as batch_op:
        batch_op.create_index(
            "ix_structure_finding_image_source", ["image_id", "source"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("structure_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_structure_finding_image_source")

    op.drop_table("structure_finding")
    with op.batch_alter_table("review_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_assignment_reviewer"))
        batch_op.drop_index(batch_op.f("ix_review_assignment_image_id"))

    op.drop_table("review_assignment")
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_reviewer"))
        batch_op.drop_index(batch_op.f("ix_review_image_id"))

    op.drop_table("review")
    op.drop_table("consensus")
    op.drop_table("clinical_annotation")
    op.drop_table("acquisition")
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_verification_stage"))
        batch_op.drop_index(batch_op.f("ix_image_status"))
        batch_op.drop_index(batch_op.f("ix_image_sha256"))
        batch_op.drop_index(batch_op.f("ix_image_pixel_sha256"))
        batch_op.drop_index(batch_op.f("ix_image_patient_id"))
        batch_op.drop_index(batch_op.f("ix_image_lesion_id"))
        batch_op.drop_index(batch_op.f("ix_image_filename_hmac"))
        batch_op.drop_index(batch_op.f("ix_image_diagnosis"))

    op.drop_table("image")
    op.drop_table("histopathology")
    with op.batch_alter_table("lesion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lesion_patient_id"))

    op.drop_table("lesion")
    op.drop_table("release")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_source_hmac"))

    op.drop_table("quarantine")
    op.drop_table("patient")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_entity_key"))

    op.drop_table("audit_event")
