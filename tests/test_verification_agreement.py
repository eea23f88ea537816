"""Agreement statistics and the pure rules (consensus, structures, stage precedence)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from dermset.model.vocabularies import VerificationStage as S
from dermset.verification import agreement as ag
from dermset.verification.consensus import decide, structure_majority
from dermset.verification.stage import Label, derive_stage, workflow_label

# Fleiss' kappa worked example (Wikipedia, "Fleiss' kappa", section "Worked example"; 14 raters
# put 10 subjects into 5 categories): P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
WIKIPEDIA_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_fleiss_kappa_matches_the_published_worked_example():
    # the example gives counts; rebuild the raw ratings so that our count table is exercised too
    cats = ["c1", "c2", "c3", "c4", "c5"]
    ratings = [[cats[j] for j, k in enumerate(row) for _ in range(k)] for row in WIKIPEDIA_FLEISS]
    table = ag.count_table(ratings, cats)
    assert (table == WIKIPEDIA_FLEISS).all()
    assert ag.fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)
    # and the intermediate quantities the example prints
    n, m = table.shape[0], table.sum(axis=1)[0]
    p_j = table.sum(axis=0) / (n * m)
    assert p_j == pytest.approx([0.143, 0.200, 0.279, 0.150, 0.229], abs=5e-4)
    p_bar = ((table * (table - 1)).sum(axis=1) / (m * (m - 1))).mean()
    assert p_bar == pytest.approx(0.378, abs=5e-4)
    assert (p_j**2).sum() == pytest.approx(0.213, abs=5e-4)


def test_category_kappa_equals_the_overall_kappa_with_two_categories():
    # Fleiss (1971): with two categories each category's kappa is the overall kappa
    rng = np.random.default_rng(3)
    first = rng.integers(0, 6, size=40)
    table = np.stack([first, 5 - first], axis=1)
    assert ag.category_kappas(table) == pytest.approx([ag.fleiss_kappa(table)] * 2)
    perfect = np.array([[3, 0], [0, 3], [3, 0]])
    assert ag.fleiss_kappa(perfect) == pytest.approx(1.0)
    assert ag.specific_agreement(perfect) == pytest.approx([1.0, 1.0])


def test_krippendorff_alpha_matches_the_published_example_with_missing_ratings():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4-observer,
    # 12-unit example with missing values: nominal alpha = 0.743
    nan = math.nan
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
    assert ag.krippendorff_alpha(np.array(data)) == pytest.approx(0.743, abs=5e-4)
    assert math.isnan(ag.krippendorff_alpha(np.array([[1.0, 1.0], [1.0, 1.0]])))


def test_cohen_kappa_textbook_value_and_fast_version_agree_with_scikit_learn():
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15 -> po 0.7, pe 0.5, kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert ag.cohen_kappa(a, b) == pytest.approx(0.4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 9, 200)
        y = np.where(rng.random(200) < 0.7, x, rng.integers(0, 9, 200))
        assert ag.cohen_kappa_codes(x, y, 9) == pytest.approx(cohen_kappa_score(x, y))
    assert math.isnan(ag.cohen_kappa_codes(np.zeros(5, int), np.zeros(5, int), 3))


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_images():
    rng = np.random.default_rng(1)

    def ratings(n):
        truth = rng.integers(0, 4, n)
        noisy = [np.where(rng.random(n) < 0.75, truth, rng.integers(0, 4, n)) for _ in range(3)]
        return np.stack([np.bincount(col, minlength=4) for col in np.stack(noisy, 1)])

    small, large = ratings(60), ratings(600)
    ci_s = ag.bootstrap_ci(lambda i: ag.fleiss_kappa(small[i]), len(small), n_resamples=300)
    ci_l = ag.bootstrap_ci(lambda i: ag.fleiss_kappa(large[i]), len(large), n_resamples=300)
    assert ci_s[0] < ag.fleiss_kappa(small) < ci_s[1]
    assert ci_l[0] < ag.fleiss_kappa(large) < ci_l[1]
    assert (ci_l[1] - ci_l[0]) < (ci_s[1] - ci_s[0]) / 2


@pytest.mark.parametrize(
    ("labels", "min_agree", "status", "dx", "agreement"),
    [
        (["MEL", "MEL", "NV"], 2, "consensus", "MEL", 2 / 3),
        (["NV", "NV", "NV"], 2, "consensus", "NV", 1.0),
        (["MEL", "NV", "BCC"], 2, "adjudication", None, 1 / 3),
        (["MEL", "MEL", "NV"], 3, "adjudication", None, 2 / 3),  # a unanimity protocol
        (["MEL", "MEL", "NV", "NV"], 2, "adjudication", None, 0.5),  # a tie is no consensus
        (["MEL", "MEL", "MEL", "NV", "NV"], 3, "consensus", "MEL", 0.6),
    ],
)
def test_consensus_rule(labels, min_agree, status, dx, agreement):
    out = decide(labels, min_agree)
    assert (out.status, out.diagnosis) == (status, dx)
    assert out.agreement == pytest.approx(agreement)


def test_structures_need_a_strict_majority():
    assert structure_majority([{"streaks", "dots"}, {"streaks"}, {"dots", "blotch"}]) == [
        "dots",
        "streaks",
    ]
    assert (
        structure_majority([{"streaks"}, {"streaks"}, set(), set()]) == []
    )  # 2 of 4 is no majority


def test_stage_precedence():
    wf = workflow_label
    # the workflow's own records: histopathology > consensus/adjudicated > clinical
    assert wf(clinical="NV").stage is S.clinical
    assert wf(clinical="NV", consensus_status="adjudication").stage is S.clinical  # still open
    got = wf(clinical="NV", consensus_status="consensus", consensus_diagnosis="MEL")
    assert (got.diagnosis, got.stage) == ("MEL", S.consensus)
    got = wf(consensus_status="adjudicated", consensus_diagnosis="BCC", histopathology="SCC")
    assert (got.diagnosis, got.stage) == ("SCC", S.histopathology)
    # a stated label stays until the workflow is stronger
    follow_up = Label("NV", S.follow_up, stated=True)
    assert derive_stage(follow_up, wf(consensus_status="consensus", consensus_diagnosis="MEL")) is (
        follow_up
    )
    assert derive_stage(follow_up, wf(histopathology="MEL")).stage is S.histopathology
    stated_consensus = Label("BKL", S.consensus, stated=True)
    assert derive_stage(stated_consensus, wf(clinical="MEL")) is stated_consensus
    assert derive_stage(
        stated_consensus, wf(consensus_status="consensus", consensus_diagnosis="MEL")
    ) is (stated_consensus)  # a tie keeps the stated label
    # an entered histopathology report replaces a stated one
    stated_histo = Label("NV", S.histopathology, stated=True)
    assert derive_stage(stated_histo, wf(histopathology="MEL")).diagnosis == "MEL"
    # a stated diagnosis without confirmation gives way to anything
    assert derive_stage(Label("NV", None, stated=True), wf(clinical="MEL")).stage is S.clinical
    assert derive_stage(None, None) is None
