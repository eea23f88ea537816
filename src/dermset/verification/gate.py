"""The release gate: what keeps the dataset from being released.

Three kinds of blocker, each naming the lesion or image and what is missing: a lesion that needs
histopathology (see :mod:`dermset.verification.histopathology`) without a result, an image with
reviews outstanding (assigned and not submitted, or started with fewer than N reviewers), and an
image waiting for adjudication. Only images in the dataset (status ``active``) count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermset.protocol import Protocol
from dermset.registry.tables import Consensus, Image, Review, ReviewAssignment
from dermset.verification.histopathology import requirements

BlockerKind = Literal[
    "malignant_without_histopathology", "open_review", "incomplete_review", "open_adjudication"
]


@dataclass(frozen=True)
class Blocker:
    kind: BlockerKind
    ref: str  # lesion pseudonym or image_id
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.replace('_', ' ')}: {self.ref} — {self.detail}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def open_assignments(session: Session) -> dict[str, list[str]]:
    """image_id -> reviewers assigned who have not submitted (active images only)."""
    rows = session.execute(
        select(Image.image_id, ReviewAssignment.reviewer)
        .join(ReviewAssignment, ReviewAssignment.image_id == Image.id)
        .outerjoin(
            Review,
            (Review.image_id == ReviewAssignment.image_id)
            & (Review.reviewer == ReviewAssignment.reviewer),
        )
        .where(Image.status == "active", Review.id.is_(None))
        .order_by(Image.id, ReviewAssignment.reviewer)
    )
    out: dict[str, list[str]] = defaultdict(list)
    for image_id, reviewer in rows:
        out[image_id].append(reviewer)
    return dict(out)


def incomplete_reviews(session: Session, n: int) -> dict[str, int]:
    """image_id -> number of assigned reviewers, for started images with fewer than N."""
    rows = session.execute(
        select(Image.image_id, func.count(ReviewAssignment.id))
        .join(ReviewAssignment, ReviewAssignment.image_id == Image.id)
        .outerjoin(Consensus, Consensus.image_id == Image.id)
        .where(Image.status == "active", Consensus.image_id.is_(None))
        .group_by(Image.id, Image.image_id)
        .having(func.count(ReviewAssignment.id) < n)
        .order_by(Image.id)
    )
    return dict(rows.all())


def open_adjudications(session: Session) -> list[str]:
    return list(
        session.execute(
            select(Image.image_id)
            .join(Consensus, Consensus.image_id == Image.id)
            .where(Image.status == "active", Consensus.status == "adjudication")
            .order_by(Image.id)
        ).scalars()
    )


def release_gate(session: Session, protocol: Protocol) -> list[Blocker]:
    """Everything that blocks a release (empty: the gate is open)."""
    n = protocol.review.reviewers
    blockers = [
        Blocker(
            "malignant_without_histopathology",
            req.lesion_id,
            "needs histopathology ("
            + "; ".join(req.called)
            + ")"
            + ("" if req.lesion_pk is not None else "; the image has no lesion record"),
        )
        for req in requirements(session, protocol)
        if not req.satisfied
    ]
    blockers += [
        Blocker("open_review", image_id, f"review outstanding from {', '.join(names)}")
        for image_id, names in open_assignments(session).items()
    ]
    blockers += [
        Blocker(
            "incomplete_review",
            image_id,
            f"only {k} of {n} reviewers assigned; assign the rest with `dermset labels assign`",
        )
        for image_id, k in incomplete_reviews(session, n).items()
    ]
    blockers += [
        Blocker("open_adjudication", image_id, "reviewers disagree; waiting for adjudication")
        for image_id in open_adjudications(session)
    ]
    return blockers
