"""A simulated study through every stage, checked against values computed here independently.

300 lesions (30 of them photographed twice: 330 images), 39 malignant as in the pilot study
(18 melanoma, 15 BCC, 6 SCC), a clinician and three specialists with known confusion matrices,
an adjudicating curator and a pathologist who reports the truth.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations

import numpy as np
import pytest
from sqlalchemy import select

from dermset.registry.project import Project
from dermset.registry.tables import Consensus, Histopathology, Image, Lesion, StructureFinding
from dermset.synthetic.reviewers import default_panel, simulate_verification
from verification_helpers import make_images

MALIGNANT = {"MEL", "BCC", "SCC"}
CODES = ["MEL", "BCC", "SCC", "AK", "BKL", "NV", "DF", "VASC", "OTHER"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    project = Project.init(tmp_path_factory.mktemp("study") / "p")
    rng = np.random.default_rng(2026)
    lesion_dx = ["MEL"] * 18 + ["BCC"] * 15 + ["SCC"] * 6
    benign = (
        ["NV"] * 150 + ["BKL"] * 40 + ["AK"] * 20 + ["DF"] * 15 + ["VASC"] * 12 + ["OTHER"] * 24
    )
    lesion_dx += benign
    assert len(lesion_dx) == 300
    rng.shuffle(lesion_dx)
    rows, truth_by_source = [], {}
    for n, dx in enumerate(lesion_dx):
        for k in range(2 if n % 10 == 0 else 1):
            source = f"STUDY_{n:03d}_{k}"
            rows.append(
                {
                    "isic_id": source,
                    "lesion_id": f"LES{n:03d}",
                    "age_approx": 50,
                    "sex": "female" if n % 2 else "male",
                }
            )
            truth_by_source[source] = dx
    ids = make_images(project, rows)
    truth = {ids[src]: dx for src, dx in truth_by_source.items()}
    result = simulate_verification(project, seed=7, truth=truth, n_bootstrap=200)
    with project.db.read() as s:
        lesion_of, label = {}, {}
        for img, les in s.execute(select(Image, Lesion).join(Lesion, Lesion.id == Image.lesion_id)):
            lesion_of[img.image_id] = les.pseudonym
            label[img.image_id] = (
                img.diagnosis,
                img.verification_stage,
                img.diagnosis_confirm_type,
                img.benign_malignant,
            )
        consensus = {
            image_id: (c.status, c.diagnosis, c.agreement)
            for image_id, c in s.execute(select(Image.image_id, Consensus).join(Consensus))
        }
        histo = dict(
            s.execute(select(Lesion.pseudonym, Histopathology.diagnosis).join(Histopathology)).all()
        )
        findings = defaultdict(dict)
        for image_id, source, annotator, code in s.execute(
            select(
                Image.image_id,
                StructureFinding.source,
                StructureFinding.annotator,
                StructureFinding.structure,
            ).join(StructureFinding)
        ):
            findings[image_id].setdefault((source, annotator), set()).add(code)
        audit_ok = project.audit.verify(s) == []
    yield {
        "project": project,
        "result": result,
        "truth": truth,
        "lesion_of": lesion_of,
        "label": label,
        "consensus": consensus,
        "histo": histo,
        "findings": findings,
        "audit_ok": audit_ok,
    }
    project.close()


def _expected_consensus(study):
    """The 2-of-3 rule, applied here to what the simulated reviewers said."""
    out = {}
    for image_id, said in study["result"].reviews.items():
        votes = Counter(said.values()).most_common()
        if votes[0][1] >= 2:
            out[image_id] = ("consensus", votes[0][0], votes[0][1] / 3)
        else:
            out[image_id] = ("adjudicated", study["result"].adjudications[image_id], 1 / 3)
    return out


def _needs_histopathology(study, expected_consensus):
    lesions = set()
    r = study["result"]
    for image_id, les in study["lesion_of"].items():
        said = {
            r.clinical[image_id],
            *r.reviews[image_id].values(),
            expected_consensus[image_id][1],
        }
        if said & MALIGNANT:
            lesions.add(les)
    return lesions


def test_the_study_has_the_intended_shape(study):
    truth = study["truth"]
    assert len(truth) == 330
    lesions_truth = {study["lesion_of"][i]: dx for i, dx in truth.items()}
    assert len(lesions_truth) == 300
    assert sum(dx in MALIGNANT for dx in lesions_truth.values()) == 39
    assert all(len(r) == 3 for r in study["result"].reviews.values())
    assert study["audit_ok"]


def test_simulated_reviewers_follow_their_known_confusion_matrices(study):
    truth, reviews = study["truth"], study["result"].reviews
    for rater in default_panel(CODES):
        hits = [reviews[i][rater.name] == truth[i] for i in truth]
        expected = rater.confusion[0, 0]  # the diagonal is the rater's accuracy in every row
        sd = np.sqrt(expected * (1 - expected) / len(hits))
        assert abs(np.mean(hits) - expected) < 4 * sd, rater.name


def test_consensus_and_adjudication_equal_the_rule_applied_independently(study):
    expected = _expected_consensus(study)
    got = study["consensus"]
    assert set(got) == set(expected)
    for image_id, (status, dx, agreement) in expected.items():
        g_status, g_dx, g_agreement = got[image_id]
        assert (g_status, g_dx) == (status, dx), image_id
        assert g_agreement == pytest.approx(agreement)
    n_adjudicated = sum(1 for v in expected.values() if v[0] == "adjudicated")
    assert 5 <= n_adjudicated <= 60  # three fallible raters over nine classes disagree sometimes


def test_consensus_structures_are_the_per_structure_majority(study):
    checked = 0
    for image_id, by_source in study["findings"].items():
        reviewers = [v for (src, _), v in by_source.items() if src == "review"]
        per_reviewer = reviewers + [set()] * (3 - len(reviewers))  # a reviewer who saw none
        counts = Counter(code for codes in per_reviewer for code in codes)
        majority = {code for code, k in counts.items() if k >= 2}
        assert by_source.get(("consensus", ""), set()) == majority, image_id
        checked += bool(majority)
    assert checked > 100


def test_histopathology_and_stages_equal_the_independent_derivation(study):
    expected_consensus = _expected_consensus(study)
    needs = _needs_histopathology(study, expected_consensus)
    truth_of_lesion = {study["lesion_of"][i]: dx for i, dx in study["truth"].items()}
    # every lesion anyone called malignant has a result, and only those (the pathologist is
    # asked for nothing else); the result is the truth
    assert set(study["histo"]) == needs
    assert all(study["histo"][les] == truth_of_lesion[les] for les in needs)
    truly_malignant = {les for les, dx in truth_of_lesion.items() if dx in MALIGNANT}
    assert truly_malignant <= needs  # no true cancer escaped histopathology here
    confirm = {
        "histopathology": "histopathology",
        "consensus": "single image expert consensus",
        "adjudicated": "single image expert consensus",
    }
    stage_counts = Counter()
    for image_id, (dx, stage, confirm_type, bm) in study["label"].items():
        les = study["lesion_of"][image_id]
        if les in needs:
            want = (truth_of_lesion[les], "histopathology")
        else:
            status, cons_dx, _ = expected_consensus[image_id]
            want = (cons_dx, status)
        assert (dx, stage) == want, image_id
        assert confirm_type == confirm[stage]
        assert bm == (
            "malignant" if dx in MALIGNANT else "indeterminate" if dx == "AK" else "benign"
        )
        stage_counts[stage] += 1
    status = study["result"].status
    assert status["by_verification_stage"] == dict(sorted(stage_counts.items()))
    assert set(stage_counts) == {"histopathology", "consensus", "adjudicated"}
    # histopathology overrides a contradicting consensus, and flags it
    overrides = {
        study["lesion_of"][i]
        for i, (st, dx, _) in expected_consensus.items()
        if study["lesion_of"][i] in needs and dx != truth_of_lesion[study["lesion_of"][i]]
    }
    assert status["histopathology_overrides"] == len(overrides) > 0


def test_release_gate_closed_until_every_malignant_lesion_has_histopathology(study):
    r = study["result"]
    needs = _needs_histopathology(study, _expected_consensus(study))
    assert r.blockers_before_pathology == len(needs) > 39
    assert r.blockers_after == 0
    assert r.status["release_blocked"] is False
    assert r.status["malignant_without_histopathology"] == 0


def _fleiss(table):
    n, m = table.shape[0], table.sum(axis=1)[0]
    p = table.sum(axis=0) / (n * m)
    p_i = (np.sum(table * table, axis=1) - m) / (m * (m - 1))
    pe = np.sum(p * p)
    return (p_i.mean() - pe) / (1 - pe)


def _krippendorff_nominal(units):
    """Coincidence-matrix form (Krippendorff 2011), for units rated by >= 2 coders."""
    o = defaultdict(float)
    for values in units:
        m = len(values)
        for a, b in ((a, b) for i, a in enumerate(values) for j, b in enumerate(values) if i != j):
            o[(a, b)] += 1 / (m - 1)
    n_c = Counter()
    for (a, _), w in o.items():
        n_c[a] += w
    n = sum(n_c.values())
    observed = sum(w for (a, b), w in o.items() if a != b)
    expected = sum(n_c[a] * n_c[b] for a in n_c for b in n_c if a != b) / (n - 1)
    return 1 - observed / expected


def _cohen(a, b):
    n = len(a)
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in ca) / (n * n)
    return (po - pe) / (1 - pe)


def test_agreement_statistics_equal_independent_computations(study):
    r = study["result"]
    report = r.agreement
    images = sorted(r.reviews)
    names = sorted(r.reviews[images[0]])
    table = np.array([[list(r.reviews[i].values()).count(c) for c in CODES] for i in images])
    assert report["n_images"] == 330 and report["reviewers"] == names
    assert report["fleiss_kappa"] == pytest.approx(_fleiss(table), abs=1e-4)
    units = [list(r.reviews[i].values()) for i in images]
    assert report["krippendorff_alpha"] == pytest.approx(_krippendorff_nominal(units), abs=1e-4)
    lo, hi = report["fleiss_kappa_ci"]
    assert lo < report["fleiss_kappa"] < hi and hi - lo < 0.2
    pairs = {(p["a"], p["b"]): p for p in report["pairwise_cohen_kappa"]}
    for a, b in combinations(names, 2):
        want = _cohen([r.reviews[i][a] for i in images], [r.reviews[i][b] for i in images])
        assert pairs[(a, b)]["kappa"] == pytest.approx(want, abs=1e-4)
        assert pairs[(a, b)]["n"] == 330
    # per class: Fleiss (1971) category kappa, written out as a loop
    n_items, m = len(images), 3
    for j, code in enumerate(CODES):
        p_j = table[:, j].sum() / (n_items * m)
        disagreement = sum(x * (m - x) for x in table[:, j])
        want = 1 - disagreement / (n_items * m * (m - 1) * p_j * (1 - p_j))
        assert report["per_class"][code]["kappa"] == pytest.approx(want, abs=1e-4), code
    # each reviewer against the consensus and against histopathology
    expected_consensus = _expected_consensus(study)
    truth_of_lesion = {study["lesion_of"][i]: dx for i, dx in study["truth"].items()}
    histo_images = [i for i in images if study["lesion_of"][i] in study["histo"]]
    for name in names:
        said = [r.reviews[i][name] for i in images]
        ref = [expected_consensus[i][1] for i in images]
        got = report["reviewer_vs_consensus"][name]
        assert got["n"] == 330
        assert got["accuracy"] == pytest.approx(np.mean(np.array(said) == np.array(ref)), abs=1e-4)
        assert got["kappa"] == pytest.approx(_cohen(said, ref), abs=1e-4)
        said_h = [r.reviews[i][name] for i in histo_images]
        ref_h = [truth_of_lesion[study["lesion_of"][i]] for i in histo_images]
        got_h = report["reviewer_vs_histopathology"][name]
        assert got_h["n"] == len(histo_images)
        assert got_h["kappa"] == pytest.approx(_cohen(said_h, ref_h), abs=1e-4)
    # the more accurate simulated specialist agrees better with histopathology
    k = {n: report["reviewer_vs_histopathology"][n]["accuracy"] for n in names}
    assert k["specialist_a"] > k["specialist_c"]
