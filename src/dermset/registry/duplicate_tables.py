"""Tables of the duplicate search: each image's perceptual fingerprint and every verified pair.

``image_fingerprint`` keeps what the pipeline computed from its reduced decode, so the index is
rebuilt without touching the store. ``duplicate_pair`` keeps every candidate pair that was
verified on pixels and its verdict, so evidence can be shown (``dermset duplicates``) and a pair
is never verified twice. Groups are not a table: they are the excluded images' ``duplicate_of``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dermset.registry.tables import Base, utcnow


class ImageFingerprint(Base):
    __tablename__ = "image_fingerprint"

    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DuplicatePair(Base):
    """A verified candidate pair (``image_a`` < ``image_b``) and the evidence for its verdict."""

    __tablename__ = "duplicate_pair"
    __table_args__ = (UniqueConstraint("image_a", "image_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_a: Mapped[int] = mapped_column(ForeignKey("image.id"), index=True)
    image_b: Mapped[int] = mapped_column(ForeignKey("image.id"), index=True)
    #: exact (same pixels or bytes) | near (a derived copy)
    kind: Mapped[str] = mapped_column(String(8))
    #: duplicate | distinct
    verdict: Mapped[str] = mapped_column(String(12), index=True)
    hash_distance: Mapped[int | None] = mapped_column(Integer)
    inliers: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    transform: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
