"""Stage 2: one specialist's review of one image (diagnosis, confidence, structures, note).

Reviews are final: a reviewer reviews an image once, never one they annotated as its clinician,
and only when assigned to it. A review made outside dermset (an imported file) of an image that
has no planned assignment records its own assignment (``origin="import"``), up to N reviewers.
When the N-th review arrives the consensus is decided (:mod:`dermset.verification.consensus`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import Image, Review
from dermset.verification import context, findings, lookup
from dermset.verification import diagnosis as dx
from dermset.verification.assignment import assign_reviewer, assignees, clinician_of
from dermset.verification.clinical import MAX_NOTE
from dermset.verification.consensus import close_if_complete
from dermset.verification.errors import VerificationError


@dataclass(frozen=True)
class Submitted:
    image_id: str
    action: str  # created | unchanged (the same review imported again)
    review: Review


def submit_review(
    session: Session,
    project: Project,
    *,
    image: str | Image,
    reviewer: str,
    diagnosis: str,
    confidence: int | None,
    structures: Iterable[str] | str | None = None,
    note: str | None = None,
    actor: str | None = None,
    imported: bool = False,
) -> Submitted:
    """Record a review. *imported*: it was made outside dermset (see the module doc)."""
    img = lookup.image(session, image)
    reviewer = lookup.person(reviewer, "the reviewer")
    actor = actor or reviewer
    code = dx.resolve(context.taxonomy(project.protocol), diagnosis)
    codes = findings.resolve(context.vocabulary(project.protocol), structures)
    scale = project.protocol.review.confidence_scale
    if confidence is None and not imported:
        raise VerificationError(
            f"a review needs a confidence from 1 to {scale}",
            rule="missing_confidence",
            field="confidence",
        )
    if confidence is not None and not (1 <= confidence <= scale):
        raise VerificationError(
            f"confidence must be a whole number from 1 to {scale}",
            rule="invalid_confidence",
            field="confidence",
        )
    text = (note or "").strip() or None
    if text is not None and len(text) > MAX_NOTE:
        raise VerificationError(
            f"note is longer than {MAX_NOTE} characters", rule="note_too_long", field="note"
        )
    if clinician_of(session, img.id) == reviewer:
        raise VerificationError(
            f"{reviewer} annotated {img.image_id} as its clinician and cannot review it",
            rule="self_review",
            field="annotator",
        )
    existing = session.execute(
        select(Review).where(Review.image_id == img.id, Review.reviewer == reviewer)
    ).scalar_one_or_none()
    if existing is not None:
        same = (
            existing.diagnosis == code
            and existing.confidence == confidence
            and (existing.note or None) == text
            and findings.get(session, img.id, "review", reviewer) == codes
        )
        if imported and same:
            return Submitted(img.image_id, "unchanged", existing)
        raise VerificationError(
            f"{reviewer} already reviewed {img.image_id}; a review is final and cannot be "
            "submitted twice",
            rule="duplicate_review",
            field="annotator",
        )
    current = assignees(session, img.id)
    mine = [a for a in current if a.reviewer == reviewer]
    if not mine:
        planned = [a for a in current if a.origin == "planned"]
        if not imported or planned:
            raise VerificationError(
                f"{reviewer} is not assigned to review {img.image_id}"
                + (
                    f" (its reviewers are assigned: {len(planned)} of "
                    f"{project.protocol.review.reviewers})"
                    if planned
                    else ""
                ),
                rule="not_assigned",
                field="annotator",
            )
        assign_reviewer(
            session, project, image=img, reviewer=reviewer, actor=actor, origin="import"
        )
    row = Review(
        image_id=img.id, reviewer=reviewer, diagnosis=code, confidence=confidence, note=text
    )
    session.add(row)
    findings.add(session, img.id, "review", reviewer, codes)
    project.audit.record(
        session,
        actor=actor,
        entity="review",
        key=img.image_id,
        action="submit",
        changes={
            "reviewer": (None, reviewer),
            "diagnosis": (None, code),
            "confidence": (None, confidence),
            "structures": (None, codes),
            "note": (None, text),
        },
    )
    close_if_complete(session, project, img, actor=actor)
    return Submitted(img.image_id, "created", row)
