"""Agreement of the specialist reviewers, computed from the registry.

Items are the images whose N reviews are all in (they have a consensus record, closed or in
adjudication). Reported: Fleiss' kappa and Krippendorff's alpha over all reviewers, Cohen's kappa
for every pair of reviewers, per-category kappa and specific agreement, and each reviewer
against the consensus (which includes the reviewer's own vote, so it flatters everyone a little)
and against histopathology (the lesion's result entered in dermset, or a histopathology label its
source stated). Every kappa and alpha has a percentile bootstrap interval over images.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.protocol import Protocol
from dermset.registry.tables import Consensus, Histopathology, Image, Review
from dermset.registry.verification_tables import SourceLabel
from dermset.verification import agreement as ag
from dermset.verification import context
from dermset.verification.stage import CLOSED


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


def _ci(ci: tuple[float, float]) -> list[float | None]:
    return [_num(ci[0]), _num(ci[1])]


@dataclass
class Versus:
    """One reviewer against a reference (consensus or histopathology)."""

    n: int
    accuracy: float
    kappa: float
    kappa_ci: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": _num(self.accuracy),
            "kappa": _num(self.kappa),
            "kappa_ci": _ci(self.kappa_ci),
        }


@dataclass
class AgreementReport:
    n_images: int
    reviewers: list[str]
    raters_per_image: int
    fleiss_kappa: float
    fleiss_kappa_ci: tuple[float, float]
    krippendorff_alpha: float
    krippendorff_alpha_ci: tuple[float, float]
    pairwise_cohen: list[dict[str, Any]] = field(default_factory=list)
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    vs_consensus: dict[str, Versus] = field(default_factory=dict)
    vs_histopathology: dict[str, Versus] = field(default_factory=dict)
    consensus: dict[str, Any] = field(default_factory=dict)
    confidence_level: float = 0.95
    n_bootstrap: int = 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_images": self.n_images,
            "reviewers": self.reviewers,
            "raters_per_image": self.raters_per_image,
            "fleiss_kappa": _num(self.fleiss_kappa),
            "fleiss_kappa_ci": _ci(self.fleiss_kappa_ci),
            "krippendorff_alpha": _num(self.krippendorff_alpha),
            "krippendorff_alpha_ci": _ci(self.krippendorff_alpha_ci),
            "pairwise_cohen_kappa": [
                {**p, "kappa": _num(p["kappa"]), "kappa_ci": _ci(p["kappa_ci"])}
                for p in self.pairwise_cohen
            ],
            "per_class": {
                code: {k: (_num(v) if isinstance(v, float) else v) for k, v in d.items()}
                for code, d in self.per_class.items()
            },
            "reviewer_vs_consensus": {r: v.to_dict() for r, v in self.vs_consensus.items()},
            "reviewer_vs_histopathology": {
                r: v.to_dict() for r, v in self.vs_histopathology.items()
            },
            "consensus": self.consensus,
            "confidence_level": self.confidence_level,
            "n_bootstrap": self.n_bootstrap,
        }


def _references(session: Session) -> tuple[dict[int, str], dict[int, str]]:
    """(image pk -> closed consensus diagnosis, image pk -> histopathology diagnosis)."""
    consensus = dict(
        session.execute(
            select(Consensus.image_id, Consensus.diagnosis).where(Consensus.status.in_(CLOSED))
        ).all()
    )
    histo = dict(
        session.execute(
            select(Image.id, SourceLabel.diagnosis)
            .join(SourceLabel, SourceLabel.image_id == Image.id)
            .where(SourceLabel.verification_stage == "histopathology")
        ).all()
    )
    histo.update(
        session.execute(
            select(Image.id, Histopathology.diagnosis).join(
                Histopathology, Histopathology.lesion_id == Image.lesion_id
            )
        ).all()
    )
    return consensus, histo


def agreement_report(
    session: Session,
    protocol: Protocol,
    *,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> AgreementReport:
    """All agreement statistics of the project's stage-2 reviews."""
    codes = context.taxonomy(protocol).codes
    code_index = {c: i for i, c in enumerate(codes)}
    rows = session.execute(
        select(Review.image_id, Review.reviewer, Review.diagnosis)
        .join(Image, Image.id == Review.image_id)
        .join(Consensus, Consensus.image_id == Review.image_id)
        .where(Image.status == "active")
        .order_by(Review.image_id, Review.reviewer)
    ).all()
    by_image: dict[int, dict[str, str]] = defaultdict(dict)
    for image_pk, reviewer, diagnosis in rows:
        if diagnosis in code_index:
            by_image[image_pk][reviewer] = diagnosis
    m = protocol.review.reviewers
    items = sorted(pk for pk, r in by_image.items() if len(r) == m)
    reviewers = sorted({r for pk in items for r in by_image[pk]})
    boot = {"n_resamples": n_bootstrap, "level": level, "seed": seed}

    table = ag.count_table([list(by_image[pk].values()) for pk in items], codes)
    fleiss = ag.fleiss_kappa(table)
    fleiss_ci = ag.bootstrap_ci(lambda idx: ag.fleiss_kappa(table[idx]), len(items), **boot)

    matrix = np.full((len(reviewers), len(items)), np.nan)
    r_index = {r: i for i, r in enumerate(reviewers)}
    for j, pk in enumerate(items):
        for r, d in by_image[pk].items():
            matrix[r_index[r], j] = code_index[d]
    alpha = ag.krippendorff_alpha(matrix)
    alpha_ci = ag.bootstrap_ci(
        lambda idx: ag.krippendorff_alpha(matrix[:, idx]), len(items), **boot
    )

    pairwise = []
    for a, b in combinations(reviewers, 2):
        both = [pk for pk in items if a in by_image[pk] and b in by_image[pk]]
        if not both:
            continue
        la = [by_image[pk][a] for pk in both]
        lb = [by_image[pk][b] for pk in both]
        ca = np.array([code_index[x] for x in la])
        cb = np.array([code_index[x] for x in lb])
        pairwise.append(
            {
                "a": a,
                "b": b,
                "n": len(both),
                "kappa": ag.cohen_kappa(la, lb),
                "kappa_ci": ag.bootstrap_ci(
                    lambda idx, ca=ca, cb=cb: ag.cohen_kappa_codes(ca[idx], cb[idx], len(codes)),
                    len(both),
                    **boot,
                ),
            }
        )

    kappas = ag.category_kappas(table)
    specific = ag.specific_agreement(table)
    per_class = {
        code: {
            "ratings": int(table[:, j].sum()),
            "kappa": float(kappas[j]),
            "specific_agreement": float(specific[j]),
        }
        for j, code in enumerate(codes)
        if table[:, j].sum() > 0
    }

    consensus_ref, histo_ref = _references(session)

    def versus(reference: dict[int, str]) -> dict[str, Versus]:
        out = {}
        for r in reviewers:
            pks = [pk for pk in items if r in by_image[pk] and reference.get(pk) in code_index]
            if not pks:
                continue
            mine = [by_image[pk][r] for pk in pks]
            ref = [reference[pk] for pk in pks]
            cm = np.array([code_index[x] for x in mine])
            cr = np.array([code_index[x] for x in ref])
            out[r] = Versus(
                n=len(pks),
                accuracy=ag.accuracy(mine, ref),
                kappa=ag.cohen_kappa(mine, ref),
                kappa_ci=ag.bootstrap_ci(
                    lambda idx, cm=cm, cr=cr: ag.cohen_kappa_codes(cm[idx], cr[idx], len(codes)),
                    len(pks),
                    **boot,
                ),
            )
        return out

    status_counts: dict[str, int] = defaultdict(int)
    agreements = []
    for status, value in session.execute(
        select(Consensus.status, Consensus.agreement)
        .join(Image, Image.id == Consensus.image_id)
        .where(Image.status == "active")
    ):
        status_counts[status] += 1
        if value is not None:
            agreements.append(value)
    return AgreementReport(
        n_images=len(items),
        reviewers=reviewers,
        raters_per_image=m,
        fleiss_kappa=fleiss,
        fleiss_kappa_ci=fleiss_ci,
        krippendorff_alpha=alpha,
        krippendorff_alpha_ci=alpha_ci,
        pairwise_cohen=pairwise,
        per_class=per_class,
        vs_consensus=versus(consensus_ref),
        vs_histopathology=versus(histo_ref),
        consensus={
            **dict(sorted(status_counts.items())),
            "unanimous": sum(1 for v in agreements if v == 1.0),
            "mean_agreement": _num(float(np.mean(agreements))) if agreements else None,
        },
        confidence_level=level,
        n_bootstrap=n_bootstrap,
    )
