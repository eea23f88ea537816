"""Simulated clinicians, specialist reviewers, adjudicator and pathologist with known errors.

Each simulated person reports a diagnosis drawn from a row of a known confusion matrix
(``P(reported | true)``) and the dermoscopic structures they notice (each structure that is there
with a fixed sensitivity, plus the occasional one that is not). Because the matrices are known,
tests can check that what the workflow computes from their labels is right, and ``dermset demo``
can run every verification stage without people. The pathologist reports the truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from dermset.registry.project import Project
from dermset.registry.tables import Consensus, Image, Lesion, ReviewAssignment
from dermset.verification import (
    adjudicate,
    agreement_report,
    annotate_lesion,
    assign_reviewers,
    clinical_annotate,
    enter_histopathology,
    release_gate,
    requirements,
    submit_review,
    verification_status,
)

#: which categories a dermoscopist mistakes for which (where most of the errors go)
CONFUSABLE: dict[str, tuple[str, ...]] = {
    "MEL": ("NV", "BKL"),
    "NV": ("MEL", "BKL"),
    "BCC": ("BKL", "SCC"),
    "SCC": ("AK", "BCC"),
    "AK": ("SCC", "BKL"),
    "BKL": ("MEL", "AK", "NV"),
    "DF": ("NV", "OTHER"),
    "VASC": ("MEL", "OTHER"),
    "OTHER": ("BKL", "NV"),
}

#: structures typical of each default category (IDS 2016 codes)
TYPICAL_STRUCTURES: dict[str, tuple[str, ...]] = {
    "MEL": ("atypical_network", "blue_white_veil", "streaks", "regression", "blotch"),
    "NV": ("pigment_network", "globules", "dots"),
    "BCC": ("arborizing_vessels", "blue_gray_ovoid_nests", "leaf_like_areas", "ulceration"),
    "SCC": ("scale", "glomerular_vessels", "ulceration", "hairpin_vessels"),
    "AK": ("strawberry_pattern", "scale", "rosettes"),
    "BKL": ("milia_like_cysts", "comedo_like_openings", "fissures_ridges", "moth_eaten_border"),
    "DF": ("central_white_patch", "pigment_network"),
    "VASC": ("red_lacunae",),
    "OTHER": ("scale", "dotted_vessels"),
}

#: prevalence used when an image has no diagnosis to serve as truth (HAM10000-like)
DEFAULT_PREVALENCE: dict[str, float] = {
    "NV": 0.55,
    "BKL": 0.12,
    "MEL": 0.08,
    "BCC": 0.05,
    "AK": 0.04,
    "SCC": 0.02,
    "DF": 0.04,
    "VASC": 0.04,
    "OTHER": 0.06,
}


def confusion_matrix(
    codes: Sequence[str], accuracy: float, *, to_confusable: float = 0.7
) -> np.ndarray:
    """A row-stochastic matrix: *accuracy* on the diagonal, most errors to confusable classes."""
    k = len(codes)
    m = np.zeros((k, k))
    index = {c: i for i, c in enumerate(codes)}
    for i, c in enumerate(codes):
        m[i, i] = accuracy
        near = [index[x] for x in CONFUSABLE.get(c, ()) if x in index and x != c]
        rest = [j for j in range(k) if j != i and j not in near]
        error = 1.0 - accuracy
        share_near = to_confusable if near and rest else (1.0 if near else 0.0)
        for j in near:
            m[i, j] += error * share_near / len(near)
        for j in rest:
            m[i, j] += error * (1 - share_near) / len(rest)
    return m


@dataclass(frozen=True)
class SimulatedRater:
    """A person with a known confusion matrix over the taxonomy's codes."""

    name: str
    codes: tuple[str, ...]
    confusion: np.ndarray
    sensitivity: float = 0.8  # P(noticing a structure that is there)
    false_structure_rate: float = 0.03  # P(recording a typical structure that is not there)

    @classmethod
    def with_accuracy(cls, name: str, codes: Sequence[str], accuracy: float) -> SimulatedRater:
        return cls(name, tuple(codes), confusion_matrix(codes, accuracy))

    def diagnose(self, true_code: str, rng: np.random.Generator) -> str:
        row = self.confusion[self.codes.index(true_code)]
        return self.codes[int(rng.choice(len(self.codes), p=row))]

    def confidence(self, correct: bool, rng: np.random.Generator) -> int:
        return int(rng.integers(3, 6) if correct else rng.integers(1, 4))

    def structures(
        self, present: Sequence[str], candidates: Sequence[str], rng: np.random.Generator
    ) -> list[str]:
        seen = [s for s in present if rng.random() < self.sensitivity]
        seen += [
            s for s in candidates if s not in present and rng.random() < self.false_structure_rate
        ]
        return sorted(set(seen))


def default_panel(codes: Sequence[str]) -> list[SimulatedRater]:
    """Three specialists of different skill (accuracy 0.90, 0.82, 0.75)."""
    return [
        SimulatedRater.with_accuracy("specialist_a", codes, 0.90),
        SimulatedRater.with_accuracy("specialist_b", codes, 0.82),
        SimulatedRater.with_accuracy("specialist_c", codes, 0.75),
    ]


@dataclass
class SimulationResult:
    """Everything the simulated people said, and what the workflow made of it."""

    truth: dict[str, str]  # image_id -> true category
    true_structures: dict[str, list[str]]
    clinical: dict[str, str]  # image_id -> clinician's diagnosis
    reviews: dict[str, dict[str, str]]  # image_id -> reviewer -> diagnosis
    adjudications: dict[str, str]  # image_id -> adjudicator's decision
    histopathology: dict[str, str]  # lesion pseudonym -> result entered
    blockers_before_pathology: int
    blockers_after: int
    status: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)

    @property
    def stage_counts(self) -> dict[str, int]:
        return dict(self.status.get("by_verification_stage", {}))

    def summary_lines(self) -> list[str]:
        a, st = self.agreement, self.status

        def ci(values: list[float | None] | None) -> str:
            if not values or values[0] is None:
                return "—"
            return f"{values[0]:.2f}–{values[1]:.2f}"

        stages = ", ".join(f"{k} {v}" for k, v in self.stage_counts.items())
        kappa, alpha = a.get("fleiss_kappa"), a.get("krippendorff_alpha")
        return [
            f"verification of {len(self.truth)} images — verification_stage: {stages}",
            f"  stage 2: {st.get('reviews_submitted')} blinded reviews; consensus "
            f"{st.get('consensus')}, adjudicated {st.get('adjudicated')}",
            f"  stage 3: {len(self.histopathology)} lesions called malignant by someone got "
            f"histopathology; {st.get('histopathology_overrides')} results overrode the consensus",
            f"  agreement: Fleiss' kappa {'—' if kappa is None else f'{kappa:.3f}'} "
            f"(95% CI {ci(a.get('fleiss_kappa_ci'))}), Krippendorff's alpha "
            f"{'—' if alpha is None else f'{alpha:.3f}'}",
            f"  release gate: {self.blockers_before_pathology} blockers before pathology, "
            f"{self.blockers_after} after",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": len(self.truth),
            "stage_counts": self.stage_counts,
            "histopathology_results": len(self.histopathology),
            "adjudications": len(self.adjudications),
            "blockers_before_pathology": self.blockers_before_pathology,
            "blockers_after": self.blockers_after,
            "status": self.status,
            "agreement": self.agreement,
        }


@dataclass(frozen=True)
class _Img:
    image_id: str
    lesion_id: int | None
    diagnosis: str | None


def _truth(
    project: Project, images: list[_Img], given: Mapping[str, str] | None, rng: np.random.Generator
) -> dict[str, str]:
    codes = project.protocol.taxonomy().codes
    prevalence = np.array([DEFAULT_PREVALENCE.get(c, 0.01) for c in codes])
    prevalence /= prevalence.sum()
    by_lesion: dict[int, str] = {}
    out = {}
    for img in images:
        code = (given or {}).get(img.image_id) or (
            img.diagnosis if img.diagnosis in codes else None
        )
        if img.lesion_id is not None and img.lesion_id in by_lesion:
            code = by_lesion[img.lesion_id]  # one lesion, one truth
        if code is None:
            code = codes[int(rng.choice(len(codes), p=prevalence))]
        if img.lesion_id is not None:
            by_lesion.setdefault(img.lesion_id, code)
        out[img.image_id] = code
    return out


def simulate_verification(
    project: Project,
    *,
    seed: int = 0,
    truth: Mapping[str, str] | None = None,
    reviewers: Sequence[SimulatedRater] | None = None,
    clinician: SimulatedRater | None = None,
    adjudicator: SimulatedRater | None = None,
    pathologist: str = "pathologist_sim",
    actor: str = "simulation",
    n_bootstrap: int = 500,
) -> SimulationResult:
    """Run stage 1, 2 (with adjudication) and 3 on every active image of a project.

    *truth* (image_id -> category) defaults to each image's current diagnosis, then to a draw
    from a HAM10000-like prevalence; all images of a lesion share the first image's truth.
    """
    rng = np.random.default_rng(seed)
    protocol = project.protocol
    codes = protocol.taxonomy().codes
    vocab = set(protocol.structure_vocabulary().codes)
    panel = list(reviewers or default_panel(codes))
    clin = clinician or SimulatedRater.with_accuracy("clinician_sim", codes, 0.70)
    senior = adjudicator or SimulatedRater.with_accuracy("curator_sim", codes, 0.95)
    by_name = {r.name: r for r in panel}

    with project.db.read() as s:
        images = [
            _Img(*row)
            for row in s.execute(
                select(Image.image_id, Image.lesion_id, Image.diagnosis)
                .where(Image.status == "active")
                .order_by(Image.id)
            )
        ]
    true = _truth(project, images, truth, rng)
    true_structures: dict[str, list[str]] = {}
    for img in images:
        typical = [x for x in TYPICAL_STRUCTURES.get(true[img.image_id], ()) if x in vocab]
        true_structures[img.image_id] = sorted(x for x in typical if rng.random() < 0.7)

    # stage 1: one clinical judgement per lesion
    clinical: dict[str, str] = {}
    with project.db.session() as s:
        done_lesions: set[int] = set()
        for img in images:
            if img.lesion_id in done_lesions:
                continue
            said = clin.diagnose(true[img.image_id], rng)
            seen = clin.structures(true_structures[img.image_id], sorted(vocab), rng)
            if img.lesion_id is None:
                clinical_annotate(
                    s,
                    project,
                    image=img.image_id,
                    annotator=clin.name,
                    diagnosis=said,
                    structures=seen,
                    actor=actor,
                )
                clinical[img.image_id] = said
                continue
            done_lesions.add(img.lesion_id)
            les = s.get(Lesion, img.lesion_id)
            for a in annotate_lesion(
                s,
                project,
                lesion=les,
                annotator=clin.name,
                diagnosis=said,
                structures=seen,
                actor=actor,
            ):
                clinical[a.image_id] = said

    # stage 2: balanced assignment, then each reviewer works their queue
    with project.db.session() as s:
        assign_reviewers(s, project, [r.name for r in panel], actor=actor)
    reviews: dict[str, dict[str, str]] = {}
    for rater in panel:
        with project.db.session() as s:
            mine = (
                s.execute(
                    select(Image.image_id)
                    .join(ReviewAssignment, ReviewAssignment.image_id == Image.id)
                    .where(ReviewAssignment.reviewer == rater.name, Image.status == "active")
                    .order_by(Image.id)
                )
                .scalars()
                .all()
            )
            for image_id in mine:
                if image_id not in true:
                    continue
                said = by_name[rater.name].diagnose(true[image_id], rng)
                submit_review(
                    s,
                    project,
                    image=image_id,
                    reviewer=rater.name,
                    diagnosis=said,
                    confidence=rater.confidence(said == true[image_id], rng),
                    structures=rater.structures(true_structures[image_id], sorted(vocab), rng),
                )
                reviews.setdefault(image_id, {})[rater.name] = said

    # adjudication of the disagreements
    adjudications: dict[str, str] = {}
    with project.db.session() as s:
        pending = (
            s.execute(
                select(Image.image_id)
                .join(Consensus, Consensus.image_id == Image.id)
                .where(Consensus.status == "adjudication", Image.status == "active")
                .order_by(Image.id)
            )
            .scalars()
            .all()
        )
        for image_id in pending:
            said = senior.diagnose(true[image_id], rng)
            adjudicate(
                s,
                project,
                image=image_id,
                adjudicator=senior.name,
                diagnosis=said,
                reason="simulated adjudication: reviewers disagreed",
                role=protocol.review.adjudicator_role,
            )
            adjudications[image_id] = said

    # stage 3: histopathology for every lesion the gate asks for
    with project.db.read() as s:
        blockers_before = len(release_gate(s, protocol))
        needed = [r for r in requirements(s, protocol) if not r.satisfied and r.lesion_pk]
        lesion_truth = {
            img.lesion_id: true[img.image_id] for img in images if img.lesion_id is not None
        }
    histopathology: dict[str, str] = {}
    start = date(2026, 1, 5)
    with project.db.session() as s:
        for n, req in enumerate(needed):
            result = lesion_truth[req.lesion_pk]
            enter_histopathology(
                s,
                project,
                lesion=req.lesion_id,
                diagnosis=result,
                report_date=start + timedelta(days=int(rng.integers(0, 300))),
                entered_by=pathologist,
                lab_reference=f"SIM-LAB-{seed}-{n:05d}",
            )
            histopathology[req.lesion_id] = result

    with project.db.read() as s:
        blockers_after = len(release_gate(s, protocol))
        status = verification_status(s, protocol)
        agreement = agreement_report(s, protocol, n_bootstrap=n_bootstrap, seed=seed).to_dict()
    return SimulationResult(
        truth=true,
        true_structures=true_structures,
        clinical=clinical,
        reviews=reviews,
        adjudications=adjudications,
        histopathology=histopathology,
        blockers_before_pathology=blockers_before,
        blockers_after=blockers_after,
        status=status,
        agreement=agreement,
    )
