"""The registry's tables (SQLAlchemy 2). Schema changes go through Alembic migrations only.

Identifiers: ``patient.pseudonym`` and ``lesion.pseudonym`` are keyed HMACs of the site's local
ids; no local id, name or original file name is stored. ``image.image_id`` is the registry's
public id; ``image.source_id`` is the id the source gave the image (curators see it, releases
never carry it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True)
    sex: Mapped[str | None] = mapped_column(String(16))
    fitzpatrick_skin_type: Mapped[str | None] = mapped_column(String(4))
    #: per-patient shift applied to capture dates (days); never released
    day_shift: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    lesions: Mapped[list[Lesion]] = relationship(back_populates="patient")


class Lesion(Base):
    __tablename__ = "lesion"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    anatom_site_general: Mapped[str | None] = mapped_column(String(32))
    clin_size_long_diam_mm: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    patient: Mapped[Patient | None] = relationship(back_populates="lesions")
    images: Mapped[list[Image]] = relationship(back_populates="lesion")


class Image(Base):
    """An image record: identity, file, status and its current label.

    ``status``: ``active`` (part of the dataset), ``duplicate`` (excluded, see ``duplicate_of``),
    ``sop_failed`` (excluded by the acquisition SOP), ``withdrawn``.
    ``sha256`` is null for a record imported from a table without its image file.
    """

    __tablename__ = "image"
    __table_args__ = (Index("ix_image_size_mean", "width", "height", "pixel_mean"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[str] = mapped_column(String(32), unique=True)
    source_id: Mapped[str | None] = mapped_column(String(256), unique=True)
    source: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    lesion_id: Mapped[int | None] = mapped_column(ForeignKey("lesion.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("image.id"))
    # the stored file
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pixel_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    filename_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    media_type: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    n_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # the acquisition SOP (details per check in quality_check)
    quality_verdict: Mapped[str | None] = mapped_column(String(8))  # pass | warn | fail
    #: 0-1, higher is better; the duplicate keep policy ranks by it
    quality_score: Mapped[float | None] = mapped_column(Float)
    #: mean of the decoded pixels (0-255): finds a JPEG's lossless re-save (PNG, TIFF) cheaply
    pixel_mean: Mapped[float | None] = mapped_column(Float)
    # the current label
    diagnosis: Mapped[str | None] = mapped_column(String(16), index=True)
    diagnosis_isic: Mapped[str | None] = mapped_column(String(512))
    benign_malignant: Mapped[str | None] = mapped_column(String(16))
    diagnosis_confirm_type: Mapped[str | None] = mapped_column(String(64))
    verification_stage: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    patient: Mapped[Patient | None] = relationship()
    lesion: Mapped[Lesion | None] = relationship(back_populates="images")
    acquisition: Mapped[Acquisition | None] = relationship(
        back_populates="image", uselist=False, cascade="all, delete-orphan"
    )


class Acquisition(Base):
    """How and when an image was captured (the acquisition block), one row per image."""

    __tablename__ = "acquisition"

    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), primary_key=True)
    age_approx: Mapped[int | None] = mapped_column(Integer)
    #: patient facts as recorded with this image (sources without patient ids still have them)
    sex: Mapped[str | None] = mapped_column(String(16))
    fitzpatrick_skin_type: Mapped[str | None] = mapped_column(String(4))
    image_type: Mapped[str | None] = mapped_column(String(32))
    dermoscopic_type: Mapped[str | None] = mapped_column(String(32))
    acquisition_device: Mapped[str | None] = mapped_column(String(256))
    acquisition_day: Mapped[int | None] = mapped_column(Integer)
    orientation: Mapped[int | None] = mapped_column(Integer)

    image: Mapped[Image] = relationship(back_populates="acquisition")


class ClinicalAnnotation(Base):
    """Stage 1: the attending clinician's diagnosis of an image."""

    __tablename__ = "clinical_annotation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), unique=True)
    annotator: Mapped[str] = mapped_column(String(64))
    diagnosis: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewAssignment(Base):
    """Stage 2: an image assigned to a specialist for blinded review."""

    __tablename__ = "review_assignment"
    __table_args__ = (UniqueConstraint("image_id", "reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(64), index=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: ``planned`` (made by dermset's assignment) or ``import`` (recorded from an imported review)
    origin: Mapped[str] = mapped_column(String(16), default="planned", server_default="planned")


class Review(Base):
    """Stage 2: one specialist's blinded review."""

    __tablename__ = "review"
    __table_args__ = (UniqueConstraint("image_id", "reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(64), index=True)
    diagnosis: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Consensus(Base):
    """The outcome of stage 2 for an image: consensus, or adjudication and its decision."""

    __tablename__ = "consensus"

    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # consensus | adjudication | adjudicated
    diagnosis: Mapped[str | None] = mapped_column(String(16))
    agreement: Mapped[float | None] = mapped_column(Float)
    n_reviews: Mapped[int] = mapped_column(Integer, default=0)
    adjudicator: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Histopathology(Base):
    """Stage 3: the histopathology result of a lesion."""

    __tablename__ = "histopathology"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesion.id"), unique=True)
    diagnosis: Mapped[str] = mapped_column(String(16))
    diagnosis_isic: Mapped[str | None] = mapped_column(String(512))
    report_date: Mapped[date | None] = mapped_column(Date)
    #: keyed hash of the laboratory's reference, never the reference itself
    lab_reference: Mapped[str | None] = mapped_column(String(64))
    entered_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the result differs from the closed consensus of an image of the lesion (and overrides it)
    contradicts_consensus: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class StructureFinding(Base):
    """A dermoscopic structure seen in an image, by whom (stage and person)."""

    __tablename__ = "structure_finding"
    __table_args__ = (
        UniqueConstraint("image_id", "source", "annotator", "structure"),
        Index("ix_structure_finding_image_source", "image_id", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"))
    source: Mapped[str] = mapped_column(String(16))  # clinical | review | consensus | import
    annotator: Mapped[str] = mapped_column(String(64), default="")
    structure: Mapped[str] = mapped_column(String(64))
    present: Mapped[bool] = mapped_column(Boolean, default=True)


class Quarantine(Base):
    """Input that could not be taken in, with the reason. Privacy: no original file name."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # table_row | image
    #: keyed hash of the file's name, so a user can find it again by re-hashing their folder
    source_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    row: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    #: the offending values with identifier columns removed
    details: Mapped[dict | None] = mapped_column(JSON)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEvent(Base):
    """Append-only, hash-chained record of every change to a label, value or status."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    #: {field: [before, after]}
    changes: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head (count and last hash), keyed so that cutting the tail is detectable."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class Release(Base):
    """A frozen, versioned dataset release."""

    __tablename__ = "release"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    protocol_version: Mapped[str] = mapped_column(String(32))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(Text)
    n_images: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    #: 1 for the project's first release, then counting up (migration 0006)
    version: Mapped[int | None] = mapped_column(Integer)
    #: the split spec, e.g. ``patient-kfold:5`` (migration 0006)
    splits: Mapped[str | None] = mapped_column(String(64))
