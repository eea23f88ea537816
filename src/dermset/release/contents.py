"""What a release contains: which images, under which public ids, with which metadata row.

An image is released when it is part of the dataset (status ``active``), has its file in the
store and carries a diagnosis; the others are counted by reason in ``release.json``. Each row is
validated again against the information model (and its release rules) before it is written:
a record that was fine in progress but breaks a release rule stops the release.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.model.isic import isic_row
from dermset.model.problems import Problem
from dermset.model.record import ImageRecord, validation_problems
from dermset.protocol import Protocol
from dermset.registry.tables import Acquisition, Image, Lesion, Patient
from dermset.verification.findings import final_structures

#: metadata.csv, in the order of the release-folder contract (docs/dev/interfaces.md)
METADATA_COLUMNS = (
    "isic_id",
    "filename",
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
    "diagnosis_category",
    "benign_malignant",
    "diagnosis_confirm_type",
    "verification_stage",
)
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
_RECORD_FIELDS = (
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
)


@dataclass
class ReleasedImage:
    pk: int
    isic_id: str
    sha256: str
    ext: str
    row: dict[str, Any]
    #: the split group: patient, else lesion, else the image itself
    group: str

    @property
    def filename(self) -> str:
        return f"{self.isic_id}.{self.ext}"


@dataclass
class Selection:
    images: list[ReleasedImage] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    structures: list[dict[str, Any]] = field(default_factory=list)


def _query():
    return (
        select(
            Image.id,
            Image.image_id,
            Image.sha256,
            Image.media_type,
            Image.diagnosis_isic,
            Patient.pseudonym,
            Lesion.pseudonym,
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
        )
        .select_from(Image)
        .outerjoin(Acquisition, Acquisition.image_id == Image.id)
        .outerjoin(Lesion, Lesion.id == Image.lesion_id)
        .outerjoin(Patient, Patient.id == Image.patient_id)
        .where(Image.status == "active")
        .order_by(Image.id)
        .execution_options(yield_per=5000)
    )


def _rows(session: Session) -> Iterator[tuple[Any, ...]]:
    yield from session.execute(_query())


def select_images(session: Session, protocol: Protocol) -> Selection:
    """The images of a release with their metadata rows; problems stop the release."""
    taxonomy = protocol.taxonomy()
    context = {"taxonomy": taxonomy}
    out = Selection()
    for row in _rows(session):
        pk, image_id, sha, media_type, dx_isic, patient, lesion, *facts = row
        values = dict(zip(_RECORD_FIELDS, facts, strict=True))
        if values["diagnosis"] is None:
            out.excluded["no diagnosis yet"] += 1
            continue
        if sha is None:
            out.excluded["no image file (record imported from a table)"] += 1
            continue
        ext = EXTENSIONS.get(media_type or "")
        if ext is None:
            out.problems.append(
                Problem(
                    f"stored as {media_type!r}; a release carries JPEG or PNG only",
                    rule="media_type",
                    file=image_id,
                    field="media_type",
                    value=media_type,
                )
            )
            continue
        try:
            record = ImageRecord.model_validate(
                {"image_id": image_id, "patient_id": patient, "lesion_id": lesion, **values},
                context=context,
            )
        except ValidationError as exc:
            for p in validation_problems(exc):
                out.problems.append(
                    Problem(
                        p["message"],
                        rule=str(p["rule"]),
                        file=image_id,
                        field=p["field"],
                        value=p["value"],
                    )
                )
            continue
        for message in record.release_violations(taxonomy):
            out.problems.append(
                Problem(message, rule="release_rule", file=image_id, field="diagnosis")
            )
        published = isic_row(record, taxonomy, isic_diagnosis=dx_isic)
        metadata = {c: published.get(c) for c in METADATA_COLUMNS}
        metadata["filename"] = f"{image_id}.{ext}"
        metadata["diagnosis_category"] = record.diagnosis
        out.images.append(
            ReleasedImage(pk, image_id, sha, ext, metadata, patient or lesion or image_id)
        )
    by_pk = {img.pk: img.isic_id for img in out.images}
    for pk, (source, codes) in sorted(final_structures(session).items()):
        if pk in by_pk:
            out.structures += [
                {"isic_id": by_pk[pk], "structure": c, "source": source, "present": 1}
                for c in codes
            ]
    return out
