"""Patient-level splits: no patient in two folds, stratified by diagnosis, asked shares."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from dermset.release.splits import SplitError, assign, leaking_groups, parse_spec


def cohort(n_patients: int = 300, seed: int = 0) -> tuple[list[str], list[str]]:
    """Patients with 1-4 images; rare categories as in dermoscopy (NV dominates)."""
    rng = np.random.default_rng(seed)
    cats = ["NV", "MEL", "BKL", "BCC", "AK", "SCC", "DF", "VASC"]
    p = np.array([0.6, 0.12, 0.1, 0.07, 0.04, 0.03, 0.02, 0.02])
    labels, groups = [], []
    for i in range(n_patients):
        dx = cats[int(rng.choice(len(cats), p=p))]
        for _ in range(int(rng.integers(1, 5))):
            labels.append(dx)
            groups.append(f"PAT_{i:04d}")
    return labels, groups


def test_kfold_never_puts_a_patient_in_two_folds_and_keeps_category_shares():
    labels, groups = cohort()
    folds = assign(parse_spec("patient-kfold:5"), labels, groups)
    seen = defaultdict(set)
    for g, f in zip(groups, folds, strict=True):
        seen[g].add(f)
    assert all(len(v) == 1 for v in seen.values())
    assert leaking_groups(groups, folds) == []
    total = Counter(labels)
    for fold in range(5):
        mine = Counter(lab for lab, f in zip(labels, folds, strict=True) if f == fold)
        size = sum(mine.values())
        assert 0.14 <= size / len(labels) <= 0.26
        for dx in ("NV", "MEL", "BKL"):  # common categories: each fold near its share
            assert abs(mine[dx] / size - total[dx] / len(labels)) < 0.08, (fold, dx)


def test_holdout_hits_the_asked_share_per_category_without_leakage():
    labels, groups = cohort(seed=1)
    split = assign(parse_spec("holdout:0.2"), labels, groups)
    assert leaking_groups(groups, split) == []
    test = [lab for lab, s in zip(labels, split, strict=True) if s == "test"]
    assert abs(len(test) / len(labels) - 0.2) < 0.03
    for dx, n in Counter(labels).items():
        if n >= 40:
            assert abs(Counter(test)[dx] / n - 0.2) < 0.07, dx
    # the same seed gives the same split
    assert assign(parse_spec("holdout:0.2"), labels, groups) == split


def test_leakage_is_detected_when_present():
    assert leaking_groups(["a", "a", "b"], [0, 1, 1]) == ["a"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("patient-kfold:1", "from 2 to 100"),
        ("kfold:x", "unknown split"),
        ("holdout:1.5", "between 0 and 1"),
        ("random:0.2", "unknown split"),
    ],
)
def test_bad_split_specs_are_explained(spec, message):
    with pytest.raises(SplitError, match=message):
        parse_spec(spec)


def test_too_few_patients_for_the_folds_is_explained():
    with pytest.raises(SplitError, match="cannot make 5 patient-level folds from 3"):
        assign(parse_spec("patient-kfold:5"), ["NV"] * 6, ["a", "a", "b", "b", "c", "c"])


def test_too_small_categories_for_stratified_folds_is_explained():
    labels = ["NV", "MEL", "BKL", "NV", "MEL", "BKL"]
    with pytest.raises(SplitError, match="largest category has 2 images"):
        assign(parse_spec("patient-kfold:3"), labels, list("abcdef"))


def test_none_means_no_split_file():
    assert parse_spec("none").kind == "none"
    assert assign(parse_spec(None), ["NV"], ["a"]) == []
