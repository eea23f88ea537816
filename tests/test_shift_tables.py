"""`dermset shift` against real metadata tables: numbers a reader can check by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import dermset
from conftest import TABLES
from dermset.analysis.shift import Side, covariate_shift, label_shift, load_side
from dermset.model.taxonomy import Taxonomy
from test_evaluate_synthetic import write_release

HAM = TABLES / "ham10000" / "HAM10000_metadata.csv"
PAD = TABLES / "pad-ufes-20" / "metadata.csv"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release(
        tmp_path_factory.mktemp("rel") / "release", patients=60, seed=8, images=False
    )


def test_shift_against_ham10000_reports_its_label_shares(
    shared_data, release: Path, tmp_path: Path
) -> None:
    res = dermset("shift", release, "--reference", HAM, "--out", tmp_path / "out", "--json")
    assert res.code == 0, res.err
    data = res.json()
    ham = pd.read_csv(HAM)
    meta = pd.read_csv(release / "metadata.csv")
    shares = {c["code"]: c for c in data["label_shift"]["categories"]}
    # HAM10000: 6,705 nevi of 10,015 images (66.95 %); akiec is the study's AK
    assert shares["NV"]["b_share"] == pytest.approx(6705 / 10015)
    assert shares["NV"]["b_share"] == pytest.approx((ham["dx"] == "nv").mean())
    assert shares["MEL"]["b_images"] == 1113
    assert shares["AK"]["b_images"] == int((ham["dx"] == "akiec").sum())
    assert shares["SCC"]["b_images"] == 0 and shares["OTHER"]["b_images"] == 0
    assert shares["NV"]["a_share"] == pytest.approx((meta["diagnosis_category"] == "NV").mean())
    assert shares["NV"]["difference_pp"] == pytest.approx(
        100 * (shares["NV"]["a_share"] - shares["NV"]["b_share"])
    )
    assert set(data["label_shift"]["only_in_a"]) >= {"SCC", "OTHER"} & set(
        meta["diagnosis_category"]
    )
    cov = {c["field"]: c for c in data["covariates"]}
    # HAM has no patient ids: patient facts are counted per lesion there
    assert cov["sex"]["unit"] == "patient / lesion"
    assert cov["sex"]["b_n"] == ham["lesion_id"].nunique()
    assert not cov["fitzpatrick_skin_type"]["comparable"]  # HAM does not record it
    assert cov["fitzpatrick_skin_type"]["b_missing"] == 1.0
    assert cov["age_approx"]["b_median"] == pytest.approx(
        ham.drop_duplicates("lesion_id")["age"].dropna().map(lambda a: 5 * round(a / 5)).median()
    )
    assert data["images"] is None
    assert any("image statistics need images on both sides" in n for n in data["notes"])
    out = tmp_path / "out"
    assert (out / "shift.html").is_file() and (out / "figures" / "shift_labels.png").is_file()
    assert "66.9 %" in (out / "shift.html").read_text()


def test_shift_reads_pad_ufes_20_with_patients(shared_data, release: Path) -> None:
    taxonomy = Taxonomy.default()
    pad = load_side(PAD, None, taxonomy)
    assert pad.kind == "table" and "pad-ufes-20" in pad.name
    a = load_side(release, None, taxonomy)
    cov = {c["field"]: c for c in covariate_shift(a, pad)}
    raw = pd.read_csv(PAD)
    assert cov["sex"]["unit"] == "patient"
    assert cov["sex"]["b_n"] == raw["patient_id"].nunique()
    assert cov["fitzpatrick_skin_type"]["comparable"]
    labels = {c["code"]: c["b_images"] for c in label_shift(a, pad)["categories"]}
    assert labels["BCC"] == 845 and labels["MEL"] == 52 and labels["AK"] == 730


def _side(name: str, categories: list[str], sexes: list[str]) -> Side:
    n = len(categories)
    meta = pd.DataFrame(
        {
            "patient_id": [f"{name}{i}" for i in range(n)],
            "lesion_id": [f"{name}L{i}" for i in range(n)],
            "diagnosis_category": categories,
            "sex": sexes,
        },
        index=[f"{name}_{i}" for i in range(n)],
    )
    return Side(name, "table", meta, Taxonomy.default())


def test_effect_sizes_do_not_shrink_with_a_larger_reference() -> None:
    small = _side("a", ["NV"] * 60 + ["MEL"] * 40, ["female"] * 70 + ["male"] * 30)
    big = _side("b", ["NV"] * 800 + ["MEL"] * 200, ["female"] * 500 + ["male"] * 500)
    bigger = _side("c", ["NV"] * 8000 + ["MEL"] * 2000, ["female"] * 5000 + ["male"] * 5000)
    one, ten = label_shift(small, big), label_shift(small, bigger)
    assert one["total_variation"] == pytest.approx(0.2)
    assert one["cramers_v"] == pytest.approx(ten["cramers_v"])
    assert ten["p_value"] < one["p_value"]
    sex = {c["field"]: c for c in covariate_shift(small, big)}["sex"]
    assert sex["total_variation"] == pytest.approx(0.2)


def test_holm_adjustment_is_never_below_the_raw_p_value(release: Path) -> None:
    rng = np.random.default_rng(0)
    taxonomy = Taxonomy.default()
    a = load_side(release, None, taxonomy)
    b = load_side(release, None, taxonomy)
    b.metadata = b.metadata.assign(
        age_approx=b.metadata["age_approx"] + 5 * rng.integers(0, 3, len(b.metadata))
    )
    for c in covariate_shift(a, b):
        if c.get("p_value") is not None:
            assert c["p_holm"] >= c["p_value"]
