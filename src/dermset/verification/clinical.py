"""Stage 1: the attending clinician's annotation (diagnosis, structures seen, note).

Recorded per image; :func:`annotate_lesion` records one annotation for every image of a lesion
(several captures of one lesion get one clinical judgement). Stage 1 stays open for corrections
by the same clinician until the first review of the image is submitted; after that it is closed,
so that the stage-1 label is the one the reviewers were blinded to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import ClinicalAnnotation, Image, Lesion, Review, ReviewAssignment
from dermset.verification import context, findings, lookup
from dermset.verification import diagnosis as dx
from dermset.verification.errors import VerificationError
from dermset.verification.stage import refresh_label

MAX_NOTE = 4000


@dataclass(frozen=True)
class Annotated:
    image_id: str
    action: str  # created | updated | unchanged


def clinical_annotate(
    session: Session,
    project: Project,
    *,
    image: str | Image,
    annotator: str,
    diagnosis: str,
    structures: Iterable[str] | str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> Annotated:
    """Record (or, before any review, correct) the clinician's annotation of one image."""
    img = lookup.image(session, image)
    annotator = lookup.person(annotator, "the annotating clinician")
    code = dx.resolve(context.taxonomy(project.protocol), diagnosis)
    codes = findings.resolve(context.vocabulary(project.protocol), structures)
    note = _note(note)
    actor = actor or annotator
    reviewers = set(
        session.execute(
            union(
                select(ReviewAssignment.reviewer).where(ReviewAssignment.image_id == img.id),
                select(Review.reviewer).where(Review.image_id == img.id),
            )
        ).scalars()
    )
    if annotator in reviewers:
        raise VerificationError(
            f"{annotator} reviews {img.image_id} and cannot also annotate it as its clinician",
            rule="reviewer_annotates",
            field="annotator",
        )
    row = session.execute(
        select(ClinicalAnnotation).where(ClinicalAnnotation.image_id == img.id)
    ).scalar_one_or_none()
    if row is None:
        row = ClinicalAnnotation(image_id=img.id, annotator=annotator, diagnosis=code, note=note)
        session.add(row)
        findings.add(session, img.id, "clinical", annotator, codes)
        project.audit.record(
            session,
            actor=actor,
            entity="clinical_annotation",
            key=img.image_id,
            action="create",
            changes={
                "annotator": (None, annotator),
                "diagnosis": (None, code),
                "structures": (None, codes),
                "note": (None, note),
            },
        )
        refresh_label(session, project, img, actor=actor, reason="clinical annotation")
        return Annotated(img.image_id, "created")
    if row.annotator != annotator:
        raise VerificationError(
            f"{img.image_id} was already annotated by another clinician ({row.annotator}); "
            "stage 1 has one annotating clinician per image",
            rule="annotated_by_other",
            field="annotator",
        )
    before_structures = findings.get(session, img.id, "clinical", annotator)
    changes = {
        k: v
        for k, v in {
            "diagnosis": (row.diagnosis, code),
            "note": (row.note, note),
            "structures": (before_structures, codes),
        }.items()
        if v[0] != v[1]
    }
    if not changes:
        return Annotated(img.image_id, "unchanged")
    n_reviews = session.execute(
        select(func.count()).select_from(Review).where(Review.image_id == img.id)
    ).scalar()
    if n_reviews:
        raise VerificationError(
            f"stage 1 of {img.image_id} is closed: its review has started, so the clinical "
            "annotation can no longer change",
            rule="stage1_closed",
            field="diagnosis",
        )
    row.diagnosis, row.note = code, note
    findings.put(session, img.id, "clinical", annotator, codes)
    project.audit.record(
        session,
        actor=actor,
        entity="clinical_annotation",
        key=img.image_id,
        action="update",
        changes=changes,
    )
    refresh_label(session, project, img, actor=actor, reason="clinical annotation")
    return Annotated(img.image_id, "updated")


def annotate_lesion(
    session: Session,
    project: Project,
    *,
    lesion: str | Lesion,
    annotator: str,
    diagnosis: str,
    structures: Iterable[str] | str | None = None,
    note: str | None = None,
    actor: str | None = None,
    site: str = "",
) -> list[Annotated]:
    """One clinical annotation for every active image of a lesion."""
    les = lookup.lesion(session, project.keys, lesion, site)
    images = lookup.active_images_of(session, les.id)
    if not images:
        raise VerificationError(
            f"lesion {les.pseudonym} has no image in the dataset",
            rule="empty_lesion",
            field="lesion_id",
        )
    return [
        clinical_annotate(
            session,
            project,
            image=img,
            annotator=annotator,
            diagnosis=diagnosis,
            structures=structures,
            note=note,
            actor=actor,
        )
        for img in images
    ]


def _note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise VerificationError(
            f"note is {len(text)} characters long; at most {MAX_NOTE}",
            rule="note_too_long",
            field="note",
        )
    return text or None
