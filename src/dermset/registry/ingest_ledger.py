"""The ingest ledger: which source files were taken in, and store writes in flight.

``ingest_file`` makes a re-run resume: a file (keyed hash of its name *and* of its bytes, so two
different files with one name, or one file under two names, are told apart) that has a row was
handled and is skipped. ``ingest_pending`` is the intent log that keeps the store and the
registry in step across a crash: the file's content key is committed here *before* the file is
written to the store, and removed in the transaction that records the image. After a kill -9 a
pending key either has its image (the record committed; drop the key) or not (delete the
unreferenced file). No orphan survives :func:`recover`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from dermset.registry.store import ContentStore
from dermset.registry.tables import Base, Image, utcnow


class IngestFile(Base):
    __tablename__ = "ingest_file"
    __table_args__ = (UniqueConstraint("filename_hmac", "content_hmac"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: keyed hash of the original file name (never the name)
    filename_hmac: Mapped[str] = mapped_column(String(64), index=True)
    #: keyed hash of the SHA-256 of the original bytes (metadata included)
    content_hmac: Mapped[str] = mapped_column(String(64))
    #: stored | duplicate | attached | quarantined
    outcome: Mapped[str] = mapped_column(String(16))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id"), index=True)
    #: the near-duplicate search has seen the image (set after resolve_duplicates)
    dedup_done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestPending(Base):
    __tablename__ = "ingest_pending"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def recover(db, store: ContentStore) -> int:
    """Finish what a crashed ingest left: returns how many unreferenced files were deleted."""
    deleted = 0
    with db.session() as s:
        pending = list(s.execute(select(IngestPending.sha256)).scalars())
        if not pending:
            return 0
        referenced = set(s.execute(select(Image.sha256).where(Image.sha256.in_(pending))).scalars())
        for sha in pending:
            if sha not in referenced and store.exists(sha):
                store.delete(sha)
                deleted += 1
        s.execute(delete(IngestPending).where(IngestPending.sha256.in_(pending)))
    return deleted
