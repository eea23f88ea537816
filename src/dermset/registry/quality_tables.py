"""The SOP check results of each image: the measured value and its verdict, one row per check.

The image's overall verdict and its quality score (the duplicate keep policy ranks by it) are
columns of ``image`` (``quality_verdict``, ``quality_score``).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dermset.registry.tables import Base


class QualityCheck(Base):
    __tablename__ = "quality_check"
    __table_args__ = (UniqueConstraint("image_id", "check"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), index=True)
    check: Mapped[str] = mapped_column(String(32))
    #: null when it could not be measured (e.g. no lesion found), which is a warning
    value: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(8))  # pass | warn | fail
    #: where it was measured: header, analysis (~1,000 px) or small (256 px) image
    scale: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
