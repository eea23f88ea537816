"""Progress of the verification workflow, for `dermset labels status` and the web dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from dermset.protocol import Protocol
from dermset.registry.tables import (
    ClinicalAnnotation,
    Consensus,
    Histopathology,
    Image,
    Review,
    ReviewAssignment,
)
from dermset.verification.gate import release_gate
from dermset.verification.histopathology import requirements

MAX_BLOCKERS_LISTED = 200


def verification_status(session: Session, protocol: Protocol) -> dict[str, Any]:
    """Counts per stage and step, the reviewers' load, and the release gate's blockers."""
    active = Image.status == "active"

    def count(q) -> int:
        return int(session.execute(q).scalar() or 0)

    images = count(select(func.count()).select_from(Image).where(active))
    by_stage = dict(
        session.execute(
            select(func.coalesce(Image.verification_stage, "none"), func.count())
            .where(active)
            .group_by(Image.verification_stage)
        ).all()
    )
    annotated = count(
        select(func.count()).select_from(ClinicalAnnotation).join(Image).where(active)
    )
    assigned_images = count(
        select(func.count(distinct(ReviewAssignment.image_id))).join(Image).where(active)
    )
    by_consensus = dict(
        session.execute(
            select(Consensus.status, func.count())
            .join(Image)
            .where(active)
            .group_by(Consensus.status)
        ).all()
    )
    load: dict[str, dict[str, int]] = {}
    for reviewer, n in session.execute(
        select(ReviewAssignment.reviewer, func.count())
        .join(Image)
        .where(active)
        .group_by(ReviewAssignment.reviewer)
    ):
        load[reviewer] = {"assigned": n, "submitted": 0}
    for reviewer, n in session.execute(
        select(Review.reviewer, func.count()).join(Image).where(active).group_by(Review.reviewer)
    ):
        load.setdefault(reviewer, {"assigned": 0, "submitted": 0})["submitted"] = n
    blockers = release_gate(session, protocol)
    kinds: dict[str, int] = {}
    for b in blockers:
        kinds[b.kind] = kinds.get(b.kind, 0) + 1
    open_reviews = sum(v["assigned"] - v["submitted"] for v in load.values())
    reqs = requirements(session, protocol)
    return {
        "images": images,
        "by_verification_stage": dict(sorted(by_stage.items())),
        "clinical_annotated": annotated,
        "assigned_images": assigned_images,
        "unassigned_images": images - assigned_images,
        "reviews_submitted": sum(v["submitted"] for v in load.values()),
        "open_reviews": open_reviews,
        "consensus": by_consensus.get("consensus", 0),
        "adjudicated": by_consensus.get("adjudicated", 0),
        "open_adjudications": by_consensus.get("adjudication", 0),
        "lesions_requiring_histopathology": len(reqs),
        "histopathology_results": count(select(func.count()).select_from(Histopathology)),
        "histopathology_overrides": count(
            select(func.count())
            .select_from(Histopathology)
            .where(Histopathology.contradicts_consensus.is_(True))
        ),
        "malignant_without_histopathology": sum(1 for r in reqs if not r.satisfied),
        "release_blocked": bool(blockers),
        "blockers_by_kind": kinds,
        "blockers": [b.to_dict() for b in blockers[:MAX_BLOCKERS_LISTED]],
        "blockers_total": len(blockers),
        "reviewers": dict(sorted(load.items())),
    }
