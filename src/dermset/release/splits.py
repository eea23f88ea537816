"""Patient-level splits: stratified by diagnosis, and no patient in two folds.

Images of one patient (or, where the source names no patient, of one lesion) share a group, and
a group never straddles folds, so a model is never tested on a patient it was trained on.

* ``patient-kfold:K`` — scikit-learn's ``StratifiedGroupKFold`` (shuffled, seeded).
* ``patient-holdout:F`` (or ``holdout:F``) — a test share of about F. scikit-learn has no
  stratified *group* holdout of an arbitrary share, so groups are added greedily (largest first,
  ties in seeded random order; then in further seeded random orders, keeping the best pass) to
  the test side while that brings the per-category counts and the total closer to F times their
  totals.
* ``none`` — no split file.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


class SplitError(ValueError):
    """The split cannot be made as asked (bad spec, too few patients)."""


@dataclass(frozen=True)
class SplitSpec:
    kind: Literal["kfold", "holdout", "none"]
    k: int | None = None
    test_fraction: float | None = None
    seed: int = 0

    def __str__(self) -> str:
        if self.kind == "kfold":
            return f"patient-kfold:{self.k}"
        if self.kind == "holdout":
            return f"patient-holdout:{self.test_fraction:g}"
        return "none"

    def to_dict(self) -> dict[str, object]:
        return {
            "spec": str(self),
            "kind": self.kind,
            "k": self.k,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "group": "patient (lesion where no patient is known)",
            "stratified_by": "diagnosis_category",
        }


#: how much the overall test share counts against the per-category shares in a holdout
OVERALL_WEIGHT = 4.0
#: greedy passes of a holdout (different orders); the best one is kept
RESTARTS = 20
_SPEC = re.compile(r"^(?:patient-)?(kfold|holdout):([0-9.]+)$")


def parse_spec(text: str | None, seed: int = 0) -> SplitSpec:
    """``patient-kfold:5``, ``patient-holdout:0.2`` / ``holdout:0.2`` or ``none``."""
    raw = (text or "none").strip().lower()
    if raw in ("none", ""):
        return SplitSpec("none", seed=seed)
    m = _SPEC.match(raw)
    if not m:
        raise SplitError(
            f"unknown split {text!r}; use patient-kfold:K (e.g. patient-kfold:5), "
            "holdout:F (e.g. holdout:0.2) or none"
        )
    kind, value = m.group(1), m.group(2)
    if kind == "kfold":
        if not value.isdigit() or not 2 <= int(value) <= 100:
            raise SplitError(
                f"patient-kfold needs a whole number of folds from 2 to 100, got {value!r}"
            )
        return SplitSpec("kfold", k=int(value), seed=seed)
    fraction = float(value)
    if not 0 < fraction < 1:
        raise SplitError(f"holdout needs a test share between 0 and 1, got {value!r}")
    return SplitSpec("holdout", test_fraction=fraction, seed=seed)


def assign(spec: SplitSpec, labels: Sequence[str], groups: Sequence[str]) -> list[int | str]:
    """The fold (k-fold) or ``train``/``test`` (holdout) of each image."""
    if spec.kind == "none":
        return []
    n_groups = len(set(groups))
    if spec.kind == "kfold":
        assert spec.k is not None
        if n_groups < spec.k:
            raise SplitError(
                f"cannot make {spec.k} patient-level folds from {n_groups} patients/lesions; "
                "choose fewer folds"
            )
        cv = StratifiedGroupKFold(n_splits=spec.k, shuffle=True, random_state=spec.seed)
        folds = np.zeros(len(labels), dtype=int)
        largest = max(Counter(labels).values())
        if largest < spec.k:
            raise SplitError(
                f"cannot stratify {spec.k} folds: the largest category has {largest} images; "
                "choose fewer folds or a holdout"
            )
        with warnings.catch_warnings():
            # rare categories (fewer images than folds) cannot be in every fold; that is fine
            warnings.simplefilter("ignore", UserWarning)
            for fold, (_, test) in enumerate(cv.split(np.zeros(len(labels)), labels, groups)):
                folds[test] = fold
        return [int(f) for f in folds]
    assert spec.test_fraction is not None
    if n_groups < 2:
        raise SplitError("a holdout needs at least two patients/lesions")
    test = _greedy_holdout(labels, groups, spec.test_fraction, spec.seed)
    return ["test" if g in test else "train" for g in groups]


def _greedy_holdout(
    labels: Sequence[str], groups: Sequence[str], fraction: float, seed: int
) -> set[str]:
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    vectors: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(classes)))
    for label, group in zip(labels, groups, strict=True):
        vectors[group][index[label]] += 1
    totals = np.zeros(len(classes))
    for v in vectors.values():
        totals += v
    target = fraction * totals
    weight = 1 / np.maximum(target, 1.0)  # a miss on a rare category counts as much
    total_target = float(target.sum())

    def cost(x: np.ndarray) -> float:
        # per-category misses, plus the overall share weighted like all categories together
        per_category = float(weight @ (target - x) ** 2)
        overall = OVERALL_WEIGHT * (total_target - x.sum()) ** 2 / max(total_target, 1.0)
        return per_category + overall

    names = sorted(vectors)
    rng = np.random.default_rng(seed)
    best: tuple[float, set[str]] = (math.inf, set())
    passes = RESTARTS if len(names) <= 5000 else 3  # large cohorts: each pass is already good
    for attempt in range(passes):
        # the first pass goes largest group first; the others in seeded random orders
        perm = rng.permutation(len(names))
        order = sorted(range(len(names)), key=lambda i: (-vectors[names[i]].sum(), perm[i]))
        if attempt:
            order = list(perm)
        current = np.zeros(len(classes))
        chosen: set[str] = set()
        for i in order:
            v = vectors[names[i]]
            if cost(current + v) < cost(current):
                chosen.add(names[i])
                current += v
        if cost(current) < best[0]:
            best = (cost(current), chosen)
    chosen = best[1]
    if not chosen or len(chosen) == len(vectors):
        raise SplitError(
            "the holdout put every patient on one side; use a larger cohort or another share"
        )
    return chosen


def leaking_groups(groups: Sequence[str], assignment: Sequence[int | str]) -> list[str]:
    """Groups (patients) found in more than one fold — must be empty."""
    seen: dict[str, set[int | str]] = defaultdict(set)
    for g, a in zip(groups, assignment, strict=True):
        seen[g].add(a)
    return sorted(g for g, folds in seen.items() if len(folds) > 1)
