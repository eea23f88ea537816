"""`dermset evaluate` and `dermset baseline` on a generated release, end to end, and the errors a
user gets for a bad prediction file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from cli_helpers import dermset
from dermset.analysis.evaluation_inputs import from_release
from dermset.analysis.predictions import PredictionError
from dermset.model.taxonomy import Taxonomy
from dermset.release.reader import load_release
from test_evaluate_synthetic import write_release

CODES = Taxonomy.default().codes
MALIGNANT = {"MEL", "BCC", "SCC"}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release(tmp_path_factory.mktemp("rel") / "release", patients=70, seed=5, size=64)


def noisy_predictions(
    release: Path, seed: int = 1, columns: list[str] | None = None
) -> pd.DataFrame:
    """A seeded model that is right more often than not, in the release's categories."""
    meta = pd.read_csv(release / "metadata.csv")
    rng = np.random.default_rng(seed)
    columns = columns or CODES
    truth = meta["diagnosis_category"].to_numpy()
    logits = rng.normal(0, 1, (len(meta), len(columns)))
    for j, code in enumerate(columns):
        logits[truth == code, j] += 2.0
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(probs, columns=columns)
    frame.insert(0, "image", meta["isic_id"])
    return frame


def test_evaluate_writes_report_and_json_with_intervals(release: Path, tmp_path: Path) -> None:
    preds = noisy_predictions(release)
    path = tmp_path / "pred.csv"
    preds.to_csv(path, index=False)
    res = dermset(
        "evaluate", release, path, "--out", tmp_path / "out", "--bootstrap", "200", "--json"
    )
    assert res.code == 0, res.err
    data = res.json()
    meta = pd.read_csv(release / "metadata.csv")
    truth = meta["diagnosis_category"].to_numpy()
    probs = preds[CODES].to_numpy()
    # independent computations of two headline numbers
    expected_bacc = balanced_accuracy_score(truth, np.asarray(CODES)[probs.argmax(axis=1)])
    assert data["overall"]["balanced_accuracy"]["value"] == pytest.approx(expected_bacc)
    mal = np.isin(truth, list(MALIGNANT))
    score = preds[sorted(MALIGNANT)].sum(axis=1).to_numpy()
    assert data["malignant"]["auc"]["value"] == pytest.approx(roc_auc_score(mal, score))
    assert data["source"]["clusters"] == meta["patient_id"].nunique()
    assert data["source"]["cluster_unit"] == "patient"
    for est in data["headline"].values():
        assert est["low"] <= est["value"] <= est["high"], est
    assert set(data["subgroups"]) == {
        "age_approx",
        "sex",
        "fitzpatrick_skin_type",
        "anatom_site_general",
        "acquisition_device",
        "verification_stage",
    }
    fitz = {g["value"]: g["images"] for g in data["subgroups"]["fitzpatrick_skin_type"]["groups"]}
    assert fitz == meta["fitzpatrick_skin_type"].value_counts().to_dict()
    for name in (
        "evaluation.html",
        "evaluation.json",
        "figures/evaluation_roc.png",
        "figures/evaluation_reliability.png",
        "figures/evaluation_confusion.png",
    ):
        assert (tmp_path / "out" / name).is_file(), name
    html = (tmp_path / "out" / "evaluation.html").read_text()
    assert "balanced multiclass accuracy" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert html.count("data:image/png;base64,") >= 3


def test_verified_only_leaves_out_clinical_labels(release: Path, tmp_path: Path) -> None:
    path = tmp_path / "pred.csv"
    noisy_predictions(release).to_csv(path, index=False)
    meta = pd.read_csv(release / "metadata.csv")
    data = from_release(load_release(release), path, verified_only=True)
    assert len(data.images) == int((meta["verification_stage"] != "clinical").sum())
    assert "clinical" not in set(data.covariates["verification_stage"])


def test_a_ham10000_model_is_mapped_onto_the_nine_categories(release: Path, tmp_path: Path) -> None:
    ham_columns = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    preds = noisy_predictions(release, columns=ham_columns)
    path = tmp_path / "ham_model.csv"
    preds.to_csv(path, index=False)
    res = dermset("evaluate", release, path, "--bootstrap", "50", "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert data["source"]["column_map"]["AKIEC"] == "AK"
    assert sorted(data["per_class"]) == sorted(["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC"])
    meta = pd.read_csv(release / "metadata.csv")
    uncovered = meta["diagnosis_category"].isin(["SCC", "OTHER"])
    assert data["source"]["images_in_multiclass_metrics"] == int((~uncovered).sum())
    assert any("SCC, OTHER" in n for n in data["notes"])
    # every image counts for malignancy; the model's SCC images can only be missed
    assert data["malignant"]["images"] == int(meta["diagnosis_category"].isin(MALIGNANT).sum())


def test_baseline_predictions_beat_chance_out_of_fold(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "baseline.csv"
    res = dermset("baseline", release, "--out", out)
    assert res.code == 0, res.err
    preds = pd.read_csv(out)
    meta = pd.read_csv(release / "metadata.csv")
    assert list(preds["image"]) == list(meta["isic_id"])
    assert np.allclose(preds[CODES].sum(axis=1), 1.0, atol=1e-5)
    res = dermset("evaluate", release, out, "--bootstrap", "200", "--json")
    data = res.json()
    # the lesion colour depends on the category, so image statistics carry signal
    assert data["malignant"]["auc"]["low"] > 0.6
    assert data["overall"]["balanced_accuracy"]["low"] > 1 / len(CODES)


BAD_CASES = {
    "not summing to 1": (lambda f: f.assign(NV=f["NV"] + 0.3), "sum to 1.3, not 1", "row 2"),
    "NaN": (lambda f: f.assign(MEL=[np.nan, *f["MEL"][1:]]), "probability is NaN", "'MEL'"),
    "unknown class": (
        lambda f: f.rename(columns={"DF": "FOO"}),
        "unknown class column",
        "column 'FOO'",
    ),
    "missing image": (lambda f: f.iloc[1:], "have no prediction", "DS_"),
    "unknown image": (
        lambda f: f.assign(image=["NOPE", *f["image"][1:]]),
        "not in the ground truth",
        "row 2, column 'image'",
    ),
    "duplicate image": (lambda f: pd.concat([f, f.iloc[[0]]]), "repeats row 2", "column 'image'"),
    "out of range": (
        lambda f: f.assign(BKL=[1.5, *f["BKL"][1:]]),
        "outside [0, 1]",
        "row 2, column 'BKL'",
    ),
    "no image column": (lambda f: f.rename(columns={"image": "img"}), "no image column", "'image'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_prediction_files_get_clear_errors(release: Path, tmp_path: Path, case: str) -> None:
    change, message, where = BAD_CASES[case]
    path = tmp_path / "bad.csv"
    change(noisy_predictions(release)).to_csv(path, index=False, na_rep="NaN")
    res = dermset("evaluate", release, path, "--bootstrap", "0")
    assert res.code == 2, (res.out, res.err)
    text = " ".join(res.err.split())
    assert message in text and where in text, text
    assert "Traceback" not in res.err and "internal error" not in res.err


def test_all_problems_of_a_file_are_reported_at_once(release: Path, tmp_path: Path) -> None:
    frame = noisy_predictions(release).astype({"MEL": object, "NV": object})
    frame.loc[3, "MEL"] = "high"
    frame.loc[5, "NV"] = ""
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(PredictionError) as info:
        from_release(load_release(release), path)
    where = {(p.row, p.column, p.rule) for p in info.value.problems}
    assert (5, "MEL", "number_parsing") in where
    assert (7, "NV", "number_parsing") in where
