"""Exporting the workflow's records as CSV-ready rows.

``summary``: one row per active image with every stage side by side (for the curator and the
paper's tables). ``clinical``, ``review``, ``histopathology``: the records in the import format,
so an export imports back unchanged. ``worksheet``: a reviewer's open queue with the metadata the
protocol lets them see and empty answer columns, to fill in offline and import as a review file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import (
    ClinicalAnnotation,
    Consensus,
    Histopathology,
    Image,
    Lesion,
    Review,
    StructureFinding,
)
from dermset.verification.reviewer import queue, review_item

KINDS = ("summary", "clinical", "review", "histopathology", "worksheet")


def _structures(session: Session, source: str) -> dict[tuple[int, str], str]:
    out: dict[tuple[int, str], list[str]] = defaultdict(list)
    for image_pk, annotator, code in session.execute(
        select(StructureFinding.image_id, StructureFinding.annotator, StructureFinding.structure)
        .where(StructureFinding.source == source, StructureFinding.present.is_(True))
        .order_by(StructureFinding.structure)
    ):
        out[(image_pk, annotator)].append(code)
    return {k: ";".join(v) for k, v in out.items()}


def export_rows(
    session: Session, project: Project, kind: str, *, reviewer: str | None = None
) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """(header, rows) of one export."""
    if kind == "clinical":
        st = _structures(session, "clinical")
        header = ["image_id", "annotator", "diagnosis", "structures", "note"]
        q = (
            select(Image.id, Image.image_id, ClinicalAnnotation)
            .join(ClinicalAnnotation, ClinicalAnnotation.image_id == Image.id)
            .order_by(Image.id)
        )
        return header, (
            {
                "image_id": image_id,
                "annotator": c.annotator,
                "diagnosis": c.diagnosis,
                "structures": st.get((pk, c.annotator), ""),
                "note": c.note or "",
            }
            for pk, image_id, c in session.execute(q)
        )
    if kind == "review":
        st = _structures(session, "review")
        header = ["image_id", "annotator", "diagnosis", "confidence", "structures", "note"]
        q = (
            select(Image.id, Image.image_id, Review)
            .join(Review, Review.image_id == Image.id)
            .order_by(Image.id, Review.reviewer)
        )
        return header, (
            {
                "image_id": image_id,
                "annotator": r.reviewer,
                "diagnosis": r.diagnosis,
                "confidence": "" if r.confidence is None else r.confidence,
                "structures": st.get((pk, r.reviewer), ""),
                "note": r.note or "",
            }
            for pk, image_id, r in session.execute(q)
        )
    if kind == "histopathology":
        header = ["lesion_id", "diagnosis", "report_date", "annotator"]
        q = (
            select(Lesion.pseudonym, Histopathology)
            .join(Histopathology, Histopathology.lesion_id == Lesion.id)
            .order_by(Lesion.pseudonym)
        )
        return header, (
            {
                "lesion_id": pseudonym,
                "diagnosis": h.diagnosis_isic or h.diagnosis,
                "report_date": h.report_date.isoformat() if h.report_date else "",
                "annotator": h.entered_by,
            }
            for pseudonym, h in session.execute(q)
        )
    if kind == "worksheet":
        if not reviewer:
            raise ValueError("a worksheet is made for one reviewer: give the reviewer's name")
        items = [
            review_item(session, project, reviewer, i) for i in queue(session, project, reviewer)
        ]
        meta = sorted({k for it in items for k in it.metadata})
        header = ["image_id", *meta, "annotator", "diagnosis", "confidence", "structures", "note"]
        return header, (
            {
                "image_id": it.image_id,
                **{k: "" if it.metadata.get(k) is None else it.metadata[k] for k in meta},
                "annotator": reviewer,
                "diagnosis": "",
                "confidence": "",
                "structures": "",
                "note": "",
            }
            for it in items
        )
    if kind == "summary":
        return _summary(session, project)
    raise ValueError(f"unknown export {kind!r}; expected one of {', '.join(KINDS)}")


def _summary(session: Session, project: Project) -> tuple[list[str], Iterator[dict[str, Any]]]:
    n = project.protocol.review.reviewers
    reviews: dict[int, list[Review]] = defaultdict(list)
    for r in session.execute(select(Review).order_by(Review.image_id, Review.id)).scalars():
        reviews[r.image_id].append(r)
    header = ["image_id", "lesion_id", "clinical_diagnosis", "clinical_annotator"]
    for i in range(1, n + 1):
        header += [f"reviewer_{i}", f"diagnosis_{i}", f"confidence_{i}"]
    header += [
        "consensus_status",
        "consensus_diagnosis",
        "agreement",
        "adjudicator",
        "adjudication_reason",
        "histopathology_diagnosis",
        "histopathology_date",
        "histopathology_overrides_consensus",
        "diagnosis",
        "benign_malignant",
        "verification_stage",
        "diagnosis_confirm_type",
    ]
    q = (
        select(Image, Lesion.pseudonym, ClinicalAnnotation, Consensus, Histopathology)
        .outerjoin(Lesion, Lesion.id == Image.lesion_id)
        .outerjoin(ClinicalAnnotation, ClinicalAnnotation.image_id == Image.id)
        .outerjoin(Consensus, Consensus.image_id == Image.id)
        .outerjoin(Histopathology, Histopathology.lesion_id == Image.lesion_id)
        .where(Image.status == "active")
        .order_by(Image.id)
    )

    def rows() -> Iterator[dict[str, Any]]:
        for img, lesion, clin, cons, histo in session.execute(q):
            row: dict[str, Any] = {
                "image_id": img.image_id,
                "lesion_id": lesion or "",
                "clinical_diagnosis": clin.diagnosis if clin else "",
                "clinical_annotator": clin.annotator if clin else "",
            }
            mine = reviews.get(img.id, [])
            for i in range(1, n + 1):
                r = mine[i - 1] if i <= len(mine) else None
                row[f"reviewer_{i}"] = r.reviewer if r else ""
                row[f"diagnosis_{i}"] = r.diagnosis if r else ""
                row[f"confidence_{i}"] = "" if r is None or r.confidence is None else r.confidence
            overrides = bool(
                histo
                and cons
                and cons.status in ("consensus", "adjudicated")
                and cons.diagnosis != histo.diagnosis
            )
            row.update(
                {
                    "consensus_status": cons.status if cons else "",
                    "consensus_diagnosis": (cons.diagnosis or "") if cons else "",
                    "agreement": "" if cons is None else round(cons.agreement or 0.0, 4),
                    "adjudicator": (cons.adjudicator or "") if cons else "",
                    "adjudication_reason": (cons.reason or "") if cons else "",
                    "histopathology_diagnosis": histo.diagnosis if histo else "",
                    "histopathology_date": (
                        histo.report_date.isoformat() if histo and histo.report_date else ""
                    ),
                    "histopathology_overrides_consensus": "yes" if overrides else "",
                    "diagnosis": img.diagnosis or "",
                    "benign_malignant": img.benign_malignant or "",
                    "verification_stage": img.verification_stage or "",
                    "diagnosis_confirm_type": img.diagnosis_confirm_type or "",
                }
            )
            yield row

    return header, rows()
