"""Read views of the registry: an image with its patient, lesion and acquisition as one row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from dermset.registry.tables import Acquisition, Image, Lesion, Patient

DuplicateImage = aliased(Image)

#: The columns of an image row, in information-model order, plus registry bookkeeping.
ROW_COLUMNS = (
    "image_id",
    "patient_id",
    "lesion_id",
    "age_approx",
    "sex",
    "fitzpatrick_skin_type",
    "anatom_site_general",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
    "acquisition_device",
    "acquisition_day",
    "diagnosis",
    "benign_malignant",
    "diagnosis_confirm_type",
    "verification_stage",
    "source_id",
    "source",
    "status",
    "duplicate_of",
    "diagnosis_isic",
    "sha256",
    "width",
    "height",
    "quality_verdict",
)


def image_query() -> Select:
    return (
        select(
            Image.image_id,
            Patient.pseudonym.label("patient_id"),
            Lesion.pseudonym.label("lesion_id"),
            Acquisition.age_approx,
            Acquisition.sex,
            Acquisition.fitzpatrick_skin_type,
            Lesion.anatom_site_general,
            Lesion.clin_size_long_diam_mm,
            Acquisition.image_type,
            Acquisition.dermoscopic_type,
            Acquisition.acquisition_device,
            Acquisition.acquisition_day,
            Image.diagnosis,
            Image.benign_malignant,
            Image.diagnosis_confirm_type,
            Image.verification_stage,
            Image.source_id,
            Image.source,
            Image.status,
            DuplicateImage.image_id.label("duplicate_of"),
            Image.diagnosis_isic,
            Image.sha256,
            Image.width,
            Image.height,
            Image.quality_verdict,
        )
        .select_from(Image)
        .outerjoin(Acquisition, Acquisition.image_id == Image.id)
        .outerjoin(Lesion, Lesion.id == Image.lesion_id)
        .outerjoin(Patient, Patient.id == Image.patient_id)
        .outerjoin(DuplicateImage, DuplicateImage.id == Image.duplicate_of)
        .order_by(Image.id)
    )


@dataclass(frozen=True)
class ImageFilter:
    diagnosis: str | None = None
    verification_stage: str | None = None
    status: str | None = None
    patient_id: str | None = None
    lesion_id: str | None = None

    def apply(self, q: Select) -> Select:
        if self.diagnosis:
            q = q.where(Image.diagnosis == self.diagnosis)
        if self.verification_stage:
            q = q.where(Image.verification_stage == self.verification_stage)
        if self.status:
            q = q.where(Image.status == self.status)
        if self.patient_id:
            q = q.where(Patient.pseudonym == self.patient_id)
        if self.lesion_id:
            q = q.where(Lesion.pseudonym == self.lesion_id)
        return q


def image_rows(
    session: Session, flt: ImageFilter | None = None, limit: int | None = None, offset: int = 0
) -> Iterator[dict[str, Any]]:
    q = image_query()
    if flt:
        q = flt.apply(q)
    if offset:
        q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    for row in session.execute(q.execution_options(yield_per=5000)):
        yield dict(row._mapping)
