"""Stage 2 assignment: each image gets N distinct reviewers, never its annotating clinician.

Balanced load: images are taken in registry order and each goes to the eligible reviewers with
the fewest assignments so far (ties by name), which keeps every reviewer within one image of the
others whenever the clinician exclusion allows it. N is ``protocol.review.reviewers``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import ClinicalAnnotation, Consensus, Image, ReviewAssignment
from dermset.verification import lookup
from dermset.verification.errors import VerificationError


@dataclass
class AssignmentReport:
    images_considered: int = 0
    assigned: int = 0  # new assignments
    images_completed: int = 0  # images that now have N reviewers
    skipped: list[str] = field(default_factory=list)  # why an image could not be filled
    load: dict[str, int] = field(default_factory=dict)  # assignments per reviewer afterwards

    def to_dict(self) -> dict[str, object]:
        return {
            "images_considered": self.images_considered,
            "assigned": self.assigned,
            "images_completed": self.images_completed,
            "skipped": self.skipped,
            "load": self.load,
        }


def clinician_of(session: Session, image_pk: int) -> str | None:
    return session.execute(
        select(ClinicalAnnotation.annotator).where(ClinicalAnnotation.image_id == image_pk)
    ).scalar()


def assignees(session: Session, image_pk: int) -> list[ReviewAssignment]:
    return list(
        session.execute(
            select(ReviewAssignment)
            .where(ReviewAssignment.image_id == image_pk)
            .order_by(ReviewAssignment.id)
        ).scalars()
    )


def assign_reviewer(
    session: Session,
    project: Project,
    *,
    image: str | Image,
    reviewer: str,
    actor: str,
    origin: str = "planned",
) -> ReviewAssignment:
    """Assign one reviewer to one image, checking every rule of the method."""
    img = lookup.image(session, image)
    reviewer = lookup.person(reviewer, "the reviewer")
    n = project.protocol.review.reviewers
    if clinician_of(session, img.id) == reviewer:
        raise VerificationError(
            f"{reviewer} annotated {img.image_id} as its clinician and cannot review it",
            rule="self_review",
            field="annotator",
        )
    current = assignees(session, img.id)
    if any(a.reviewer == reviewer for a in current):
        raise VerificationError(
            f"{reviewer} is already assigned to {img.image_id}",
            rule="already_assigned",
            field="annotator",
        )
    if len(current) >= n:
        raise VerificationError(
            f"{img.image_id} already has its {n} reviewers",
            rule="reviewers_complete",
            field="annotator",
        )
    return _add(session, project, img, reviewer, actor, origin)


def _add(
    session: Session, project: Project, img: Image, reviewer: str, actor: str, origin: str
) -> ReviewAssignment:
    row = ReviewAssignment(image_id=img.id, reviewer=reviewer, origin=origin)
    session.add(row)
    project.audit.record(
        session,
        actor=actor,
        entity="review_assignment",
        key=img.image_id,
        action="assign",
        changes={"reviewer": (None, reviewer), "origin": (None, origin)},
    )
    return row


def assign_reviewers(
    session: Session,
    project: Project,
    reviewers: Sequence[str],
    *,
    actor: str,
    images: Iterable[str | Image] | None = None,
    limit: int | None = None,
) -> AssignmentReport:
    """Give every image (default: all active images) its N reviewers from the pool."""
    n = project.protocol.review.reviewers
    pool = sorted({lookup.person(r, "a reviewer name") for r in reviewers})
    if len(pool) < n:
        raise VerificationError(
            f"the protocol asks for {n} reviewers per image but only {len(pool)} distinct "
            f"reviewer(s) were given: {', '.join(pool) or 'none'}",
            rule="too_few_reviewers",
            field="reviewer",
        )
    load = Counter(
        dict(
            session.execute(
                select(ReviewAssignment.reviewer, func.count())
                .where(ReviewAssignment.reviewer.in_(pool))
                .group_by(ReviewAssignment.reviewer)
            ).all()
        )
    )
    for r in pool:
        load.setdefault(r, 0)
    if images is None:
        targets = list(
            session.execute(
                select(Image)
                .outerjoin(Consensus, Consensus.image_id == Image.id)
                .where(Image.status == "active", Consensus.image_id.is_(None))
                .order_by(Image.id)
            ).scalars()
        )
    else:
        targets = [lookup.image(session, ref) for ref in images]
    report = AssignmentReport()
    for img in targets:
        current = {a.reviewer for a in assignees(session, img.id)}
        missing = n - len(current)
        if missing <= 0:
            continue
        if limit is not None and report.images_considered >= limit:
            break
        report.images_considered += 1
        clinician = clinician_of(session, img.id)
        eligible = sorted(
            (r for r in pool if r not in current and r != clinician), key=lambda r: (load[r], r)
        )
        if len(eligible) < missing:
            report.skipped.append(
                f"{img.image_id}: needs {missing} more reviewer(s) but only {len(eligible)} of the "
                "pool are eligible (the annotating clinician and its current reviewers are not)"
            )
            continue
        for r in eligible[:missing]:  # the rules were checked above for the whole image
            _add(session, project, img, r, actor, "planned")
            load[r] += 1
            report.assigned += 1
        report.images_completed += 1
    report.load = dict(sorted(load.items()))
    return report
