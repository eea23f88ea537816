"""Consensus of the specialists' reviews, and adjudication when they disagree.

Rule (protocol ``review``): once all N reviews of an image are in, a diagnosis that at least
``consensus_min_agree`` reviewers chose, and no other diagnosis matched, is the consensus;
otherwise the image goes to the adjudication queue, where the protocol's adjudicator
(``adjudicator_role``, default curator) decides and records why. Structures: a structure is in
the consensus when more than half of the reviewers saw it. The share of reviewers who chose the
most frequent diagnosis is stored per image as its agreement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import Consensus, Image, Review
from dermset.verification import context, findings, lookup
from dermset.verification import diagnosis as dx
from dermset.verification.assignment import clinician_of
from dermset.verification.errors import VerificationError
from dermset.verification.stage import refresh_label


@dataclass(frozen=True)
class Outcome:
    status: Literal["consensus", "adjudication"]
    diagnosis: str | None
    agreement: float  # share of reviewers who chose the most frequent diagnosis
    votes: dict[str, int]


def decide(labels: Sequence[str], min_agree: int) -> Outcome:
    """Apply the consensus rule to the reviewers' diagnoses of one image.

    >>> decide(["MEL", "MEL", "NV"], 2).diagnosis
    'MEL'
    >>> decide(["MEL", "NV", "BCC"], 2).status
    'adjudication'
    """
    if not labels:
        raise ValueError("no reviews to decide on")
    votes = Counter(labels)
    ranked = votes.most_common()
    top, top_n = ranked[0]
    tied = len(ranked) > 1 and ranked[1][1] == top_n
    agreement = top_n / len(labels)
    if top_n >= min_agree and not tied:
        return Outcome("consensus", top, agreement, dict(votes))
    return Outcome("adjudication", None, agreement, dict(votes))


def structure_majority(per_reviewer: Sequence[Collection[str]]) -> list[str]:
    """Structures that more than half of the reviewers recorded as present."""
    counts = Counter(s for codes in per_reviewer for s in set(codes))
    return sorted(s for s, k in counts.items() if 2 * k > len(per_reviewer))


def reviews_of(session: Session, image_pk: int) -> list[Review]:
    return list(
        session.execute(
            select(Review).where(Review.image_id == image_pk).order_by(Review.id)
        ).scalars()
    )


def close_if_complete(
    session: Session, project: Project, image: Image, *, actor: str
) -> Consensus | None:
    """Once the image has all N reviews: record consensus or open its adjudication."""
    if session.get(Consensus, image.id) is not None:
        return None
    reviews = reviews_of(session, image.id)
    if len(reviews) < project.protocol.review.reviewers:
        return None
    outcome = decide([r.diagnosis for r in reviews], project.protocol.review.consensus_min_agree)
    seen = findings.by_annotator(session, image.id, "review")
    structures = structure_majority([seen.get(r.reviewer, []) for r in reviews])
    findings.put(session, image.id, "consensus", "", structures)
    row = Consensus(
        image_id=image.id,
        status=outcome.status,
        diagnosis=outcome.diagnosis,
        agreement=outcome.agreement,
        n_reviews=len(reviews),
        closed_at=datetime.now(UTC) if outcome.status == "consensus" else None,
    )
    session.add(row)
    project.audit.record(
        session,
        actor=actor,
        entity="consensus",
        key=image.image_id,
        action="close" if outcome.status == "consensus" else "to_adjudication",
        changes={
            "status": (None, outcome.status),
            "diagnosis": (None, outcome.diagnosis),
            "agreement": (None, round(outcome.agreement, 4)),
            "votes": (None, outcome.votes),
            "structures": (None, structures),
        },
    )
    refresh_label(session, project, image, actor=actor, reason="consensus")
    return row


def adjudicate(
    session: Session,
    project: Project,
    *,
    image: str | Image,
    adjudicator: str,
    diagnosis: str,
    reason: str,
    role: str,
) -> Consensus:
    """The adjudicator's decision for an image the reviewers did not agree on.

    *role* is the role the adjudicator acts in; it must be the protocol's
    ``review.adjudicator_role``. The adjudicator must be independent of the image: neither one
    of its reviewers nor its annotating clinician.
    """
    img = lookup.image(session, image)
    adjudicator = lookup.person(adjudicator, "the adjudicator", field="adjudicator")
    wanted_role = project.protocol.review.adjudicator_role
    if role != wanted_role:
        raise VerificationError(
            f"the protocol gives adjudication to the {wanted_role} role, not {role}",
            rule="wrong_role",
            field="role",
        )
    code = dx.resolve(context.taxonomy(project.protocol), diagnosis)
    reason = (reason or "").strip()
    if not reason:
        raise VerificationError(
            "an adjudication needs a reason", rule="missing_reason", field="reason"
        )
    row = session.get(Consensus, img.id)
    if row is None or row.status != "adjudication":
        state = "its reviews are not complete" if row is None else f"it is {row.status}"
        raise VerificationError(
            f"{img.image_id} is not waiting for adjudication ({state})",
            rule="not_in_adjudication",
            field="image_id",
        )
    involved = {r.reviewer for r in reviews_of(session, img.id)} | {clinician_of(session, img.id)}
    if adjudicator in involved:
        raise VerificationError(
            f"{adjudicator} reviewed or annotated {img.image_id}; adjudication must come from "
            "someone independent of the image",
            rule="adjudicator_involved",
            field="adjudicator",
        )
    row.status, row.diagnosis = "adjudicated", code
    row.adjudicator, row.reason = adjudicator, reason
    row.closed_at = datetime.now(UTC)
    project.audit.record(
        session,
        actor=adjudicator,
        entity="consensus",
        key=img.image_id,
        action="adjudicate",
        changes={
            "status": ("adjudication", "adjudicated"),
            "diagnosis": (None, code),
            "adjudicator": (None, adjudicator),
            "reason": (None, reason),
        },
    )
    refresh_label(session, project, img, actor=adjudicator, reason="adjudication")
    return row
