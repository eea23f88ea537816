"""Tables of the verification workflow that the initial schema does not have.

``source_label`` keeps the label an image carried before the workflow first touched it (for
example HAM10000's ``dx_type=histo``), so that the derived label can honour it and never
loses it when the workflow later writes ``image.diagnosis`` and ``verification_stage``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from dermset.registry.tables import Base, utcnow


class SourceLabel(Base):
    """The label an imported dataset stated for an image (all null: it stated none)."""

    __tablename__ = "source_label"

    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), primary_key=True)
    diagnosis: Mapped[str | None] = mapped_column(String(16))
    diagnosis_isic: Mapped[str | None] = mapped_column(String(512))
    benign_malignant: Mapped[str | None] = mapped_column(String(16))
    diagnosis_confirm_type: Mapped[str | None] = mapped_column(String(64))
    verification_stage: Mapped[str | None] = mapped_column(String(16))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
