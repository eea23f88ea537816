"""Stage 3: histopathology results, and which lesions must have one.

A lesion needs histopathology when anyone called it a category the protocol sends to
histopathology (``requires_histopathology``; by default the malignant ones): a reviewer, the
consensus or adjudication, the annotating clinician, or the label it carries (e.g. an imported
one). It has histopathology when a result was entered in dermset or an image of it carries a
stated histopathology label from its source. A result that contradicts the closed consensus of
an image of the lesion overrides it (the image's label follows the result) and is flagged.
The laboratory's reference is stored only as a keyed hash (``project.keys.lab_reference``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermset.protocol import Protocol
from dermset.registry.project import Project
from dermset.registry.tables import (
    ClinicalAnnotation,
    Consensus,
    Histopathology,
    Image,
    Lesion,
    Review,
)
from dermset.verification import context, lookup
from dermset.verification import diagnosis as dx
from dermset.verification.errors import VerificationError
from dermset.verification.stage import CLOSED, refresh_label

EARLIEST_REPORT = date(1950, 1, 1)


@dataclass
class Entered:
    lesion_id: str  # pseudonym
    action: str  # created | amended | unchanged
    contradicts_consensus: bool = False
    overridden: dict[str, str] = field(default_factory=dict)  # image_id -> consensus it overrode


def parse_report_date(text: str | date | None) -> date:
    """A report date as YYYY-MM-DD, not in the future."""
    if isinstance(text, date):
        value = text
    else:
        raw = (text or "").strip()
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise VerificationError(
                f"report date {raw!r} is not a date written as YYYY-MM-DD"
                if raw
                else "the report date is missing (YYYY-MM-DD)",
                rule="invalid_date",
                field="report_date",
            ) from None
    if value > date.today() or value < EARLIEST_REPORT:
        raise VerificationError(
            f"report date {value.isoformat()} is in the future or before "
            f"{EARLIEST_REPORT.isoformat()}",
            rule="implausible_date",
            field="report_date",
        )
    return value


def enter_histopathology(
    session: Session,
    project: Project,
    *,
    lesion: str | Lesion,
    diagnosis: str,
    report_date: str | date,
    entered_by: str,
    lab_reference: str | None = None,
    site: str = "",
    amend: bool = False,
) -> Entered:
    """Record the histopathology result of a lesion (``amend=True`` to correct one)."""
    les = lookup.lesion(session, project.keys, lesion, site)
    entered_by = lookup.person(entered_by, "who entered the result")
    taxonomy = context.taxonomy(project.protocol)
    code = dx.resolve(taxonomy, diagnosis)
    isic = dx.isic_term(taxonomy, diagnosis)
    day = parse_report_date(report_date)
    ref = project.keys.lab_reference(lab_reference) if (lab_reference or "").strip() else None
    images = lookup.active_images_of(session, les.id)
    if not images:
        raise VerificationError(
            f"lesion {les.pseudonym} has no image in the dataset",
            rule="empty_lesion",
            field="lesion_id",
        )
    overridden = {}
    for img in images:
        cons = session.get(Consensus, img.id)
        if cons is not None and cons.status in CLOSED and cons.diagnosis != code:
            overridden[img.image_id] = cons.diagnosis or ""
    row = session.execute(
        select(Histopathology).where(Histopathology.lesion_id == les.id)
    ).scalar_one_or_none()
    wanted = {
        "diagnosis": code,
        "diagnosis_isic": isic,
        "report_date": day,
        "contradicts_consensus": bool(overridden),
    }
    if row is not None:
        if ref is not None:
            wanted["lab_reference"] = ref
        changes = {k: (getattr(row, k), v) for k, v in wanted.items() if getattr(row, k) != v}
        if not changes:
            return Entered(les.pseudonym, "unchanged", row.contradicts_consensus, overridden)
        if not amend:
            raise VerificationError(
                f"lesion {les.pseudonym} already has a histopathology result "
                f"({row.diagnosis}, reported {row.report_date}); amend it explicitly to change it",
                rule="duplicate_histopathology",
                field="lesion_id",
            )
        for k, (_, after) in changes.items():
            setattr(row, k, after)
        action = "amend"
    else:
        row = Histopathology(lesion_id=les.id, entered_by=entered_by, lab_reference=ref, **wanted)
        session.add(row)
        changes = {k: (None, v) for k, v in wanted.items()}
        changes["lab_reference"] = (None, "(keyed hash)" if ref else None)
        action = "create"
    session.flush()
    if overridden:
        changes["overrides_consensus"] = (None, overridden)
    project.audit.record(
        session,
        actor=entered_by,
        entity="histopathology",
        key=les.pseudonym,
        action=action,
        changes=changes,
    )
    for img in images:
        refresh_label(session, project, img, actor=entered_by, reason="histopathology")
    return Entered(
        les.pseudonym, "created" if action == "create" else "amended", bool(overridden), overridden
    )


@dataclass(frozen=True)
class Requirement:
    """A lesion that must have histopathology, and why."""

    lesion_pk: int | None  # None: an image without a lesion record
    lesion_id: str  # pseudonym (or the image_id when there is no lesion)
    called: tuple[str, ...]  # who called it what, e.g. "reviewer anna: MEL"
    satisfied: bool


def requirements(session: Session, protocol: Protocol) -> list[Requirement]:
    """Every lesion of the dataset that needs histopathology, with whether it has it."""
    codes = sorted(context.taxonomy(protocol).histopathology_codes)
    if not codes:
        return []

    def base(*columns):  # (lesion pk, lesion pseudonym or image id, *columns) of active images
        return (
            select(Image.lesion_id, func.coalesce(Lesion.pseudonym, Image.image_id), *columns)
            .select_from(Image)
            .outerjoin(Lesion, Lesion.id == Image.lesion_id)
            .where(Image.status == "active")
        )

    sources = (
        (
            base(Review.reviewer, Review.diagnosis)
            .join(Review, Review.image_id == Image.id)
            .where(Review.diagnosis.in_(codes)),
            "reviewer {}: {}",
        ),
        (
            base(ClinicalAnnotation.annotator, ClinicalAnnotation.diagnosis)
            .join(ClinicalAnnotation, ClinicalAnnotation.image_id == Image.id)
            .where(ClinicalAnnotation.diagnosis.in_(codes)),
            "clinician {}: {}",
        ),
        (
            base(Consensus.status, Consensus.diagnosis)
            .join(Consensus, Consensus.image_id == Image.id)
            .where(Consensus.diagnosis.in_(codes)),
            "{}: {}",
        ),
        (
            base(func.coalesce(Image.verification_stage, "no stage"), Image.diagnosis).where(
                Image.diagnosis.in_(codes)
            ),
            "label ({}): {}",
        ),
    )
    calls: dict[tuple[int | None, str], list[str]] = {}
    for query, template in sources:
        for lesion_pk, key, who, code in session.execute(query):
            calls.setdefault((lesion_pk, key), []).append(template.format(who, code))
    if not calls:
        return []
    done = set(session.execute(select(Histopathology.lesion_id)).scalars()) | set(
        session.execute(
            select(Image.lesion_id).where(
                Image.status == "active", Image.verification_stage == "histopathology"
            )
        ).scalars()
    )
    return [
        Requirement(pk, key, tuple(dict.fromkeys(texts)), pk is not None and pk in done)
        for (pk, key), texts in sorted(calls.items(), key=lambda kv: kv[0][1])
    ]
