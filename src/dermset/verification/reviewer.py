"""What a specialist reviewer may see and do: the blinded stage-2 queue.

Every call made on behalf of a reviewer goes through :class:`ReviewerSession` (the CLI and the
web pages use it). Blinding is enforced here, not in the faces: before the reviewer has
submitted their own review *and* the image's consensus is closed, nothing returned carries
another reviewer's review, the stage-1 (clinical) diagnosis, structures or note, or the image's
current label. The metadata shown are the protocol's ``visibility.reviewer`` fields; the label
fields (diagnosis, benign_malignant, diagnosis_confirm_type, verification_stage) are withheld
even if a protocol lists them, and the source's own image id is never shown (it can be looked
up in a public archive). Errors name only the image and the reviewer's own state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import ClinicalAnnotation, Consensus, Image, Review, ReviewAssignment
from dermset.registry.views import image_query
from dermset.verification import findings, lookup
from dermset.verification.errors import VerificationError
from dermset.verification.review import submit_review
from dermset.verification.stage import CLOSED

#: never shown to a reviewer before unblinding, whatever the protocol's visibility says
WITHHELD = frozenset(
    {"diagnosis", "benign_malignant", "diagnosis_confirm_type", "verification_stage"}
)


@dataclass(frozen=True)
class OwnReview:
    diagnosis: str
    confidence: int | None
    structures: tuple[str, ...]
    note: str | None
    submitted_at: datetime


@dataclass(frozen=True)
class Unblinded:
    """Shown to a reviewer only after their own review and the closed consensus."""

    consensus_status: str
    consensus_diagnosis: str | None
    agreement: float | None
    clinical_diagnosis: str | None
    other_reviews: tuple[str, ...]  # the other reviewers' diagnoses (not their names)


@dataclass(frozen=True)
class ReviewItem:
    """One image as its reviewer sees it."""

    image_id: str
    sha256: str | None  # to fetch the pixels from the store
    media_type: str | None
    metadata: dict[str, Any]
    own_review: OwnReview | None = None
    unblinded: Unblinded | None = None

    @property
    def done(self) -> bool:
        return self.own_review is not None


def _visible(project: Project) -> list[str]:
    return sorted(project.protocol.visible_fields("reviewer") - WITHHELD - {"image_id"})


def _metadata(session: Session, project: Project, img: Image) -> dict[str, Any]:
    row = session.execute(image_query().where(Image.id == img.id)).one()._mapping
    return {name: row[name] for name in _visible(project)}


def _own(session: Session, img: Image, reviewer: str) -> OwnReview | None:
    r = session.execute(
        select(Review).where(Review.image_id == img.id, Review.reviewer == reviewer)
    ).scalar_one_or_none()
    if r is None:
        return None
    return OwnReview(
        r.diagnosis,
        r.confidence,
        tuple(findings.get(session, img.id, "review", reviewer)),
        r.note,
        r.submitted_at,
    )


def _unblinded(session: Session, img: Image, reviewer: str) -> Unblinded | None:
    cons = session.get(Consensus, img.id)
    if cons is None or cons.status not in CLOSED:
        return None
    others = session.execute(
        select(Review.diagnosis)
        .where(Review.image_id == img.id, Review.reviewer != reviewer)
        .order_by(Review.id)
    ).scalars()
    clinical = session.execute(
        select(ClinicalAnnotation.diagnosis).where(ClinicalAnnotation.image_id == img.id)
    ).scalar()
    return Unblinded(cons.status, cons.diagnosis, cons.agreement, clinical, tuple(others))


def _assigned(session: Session, reviewer: str, image_id: str) -> Image:
    img = lookup.find_image(session, image_id)
    # the same message whether the image does not exist or is someone else's: no probing
    if img is None or img.image_id != image_id.strip() or not _is_assigned(session, img, reviewer):
        raise VerificationError(
            f"{image_id} is not in {reviewer}'s review queue",
            rule="not_assigned",
            field="image_id",
        )
    if img.status != "active":
        raise VerificationError(
            f"{img.image_id} was withdrawn from review (status {img.status})",
            rule="inactive_image",
            field="image_id",
        )
    return img


def _is_assigned(session: Session, img: Image, reviewer: str) -> bool:
    return (
        session.execute(
            select(ReviewAssignment.id).where(
                ReviewAssignment.image_id == img.id, ReviewAssignment.reviewer == reviewer
            )
        ).first()
        is not None
    )


def review_item(session: Session, project: Project, reviewer: str, image_id: str) -> ReviewItem:
    """One image of the reviewer's queue, blinded as the module doc says."""
    img = _assigned(session, reviewer, image_id)
    own = _own(session, img, reviewer)
    return ReviewItem(
        image_id=img.image_id,
        sha256=img.sha256,
        media_type=img.media_type,
        metadata=_metadata(session, project, img),
        own_review=own,
        unblinded=_unblinded(session, img, reviewer) if own is not None else None,
    )


def queue(
    session: Session, project: Project, reviewer: str, *, include_done: bool = False
) -> list[str]:
    """The image_ids assigned to the reviewer (default: only those still to review)."""
    q = (
        select(Image.image_id)
        .join(ReviewAssignment, ReviewAssignment.image_id == Image.id)
        .outerjoin(
            Review, (Review.image_id == Image.id) & (Review.reviewer == ReviewAssignment.reviewer)
        )
        .where(ReviewAssignment.reviewer == reviewer, Image.status == "active")
        .order_by(ReviewAssignment.assigned_at, ReviewAssignment.id)
    )
    if not include_done:
        q = q.where(Review.id.is_(None))
    return list(session.execute(q).scalars())


def next_for_reviewer(session: Session, project: Project, reviewer: str) -> ReviewItem | None:
    """The reviewer's next image to review, or None when the queue is empty."""
    todo = queue(session, project, reviewer)
    return review_item(session, project, reviewer, todo[0]) if todo else None


@dataclass(frozen=True)
class Progress:
    done: int
    assigned: int


class ReviewerSession:
    """The only door a reviewer's requests go through (see the module doc).

    >>> rs = reviewer_view(project, "anna")            # doctest: +SKIP
    >>> item = rs.next()                                # doctest: +SKIP
    >>> rs.submit(item.image_id, "MEL", confidence=4)   # doctest: +SKIP
    """

    def __init__(self, project: Project, reviewer: str):
        self.project = project
        self.reviewer = lookup.person(reviewer, "the reviewer")

    def queue(self, include_done: bool = False) -> list[str]:
        with self.project.db.read() as s:
            return queue(s, self.project, self.reviewer, include_done=include_done)

    def next(self) -> ReviewItem | None:
        with self.project.db.read() as s:
            return next_for_reviewer(s, self.project, self.reviewer)

    def view(self, image_id: str) -> ReviewItem:
        with self.project.db.read() as s:
            return review_item(s, self.project, self.reviewer, image_id)

    def progress(self) -> Progress:
        with self.project.db.read() as s:
            done = queue(s, self.project, self.reviewer, include_done=True)
            todo = queue(s, self.project, self.reviewer)
        return Progress(len(done) - len(todo), len(done))

    def submit(
        self,
        image_id: str,
        diagnosis: str,
        *,
        confidence: int,
        structures: Iterable[str] | str | None = None,
        note: str | None = None,
    ) -> OwnReview:
        """Submit this reviewer's review; returns only that review (never the consensus)."""
        with self.project.db.session() as s:
            img = _assigned(s, self.reviewer, image_id)
            submit_review(
                s,
                self.project,
                image=img,
                reviewer=self.reviewer,
                diagnosis=diagnosis,
                confidence=confidence,
                structures=structures,
                note=note,
            )
            own = _own(s, img, self.reviewer)
        assert own is not None
        return own


def reviewer_view(project: Project, reviewer: str) -> ReviewerSession:
    return ReviewerSession(project, reviewer)
