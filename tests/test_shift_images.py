"""Image-statistics shift, the classifier two-sample test and the MMD test for embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import dermset
from dermset.analysis.image_stats import image_statistics
from dermset.analysis.two_sample import classifier_two_sample_test, mmd_permutation_test
from test_evaluate_synthetic import write_release


def srgb_to_lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour, from the published formulas."""
    c = np.asarray(rgb, float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


@pytest.mark.parametrize("rgb", [(236, 200, 180), (175, 130, 100), (110, 75, 55)])
def test_individual_typology_angle_of_a_skin_patch(tmp_path: Path, rgb) -> None:
    path = tmp_path / "skin.png"
    Image.new("RGB", (300, 240), rgb).save(path)
    stats = image_statistics(path)
    big_l, _, big_b = srgb_to_lab(rgb)
    expected = np.degrees(np.arctan((big_l - 50) / big_b))
    assert stats["ita"] == pytest.approx(expected, abs=1.0)
    assert stats["brightness"] == pytest.approx(big_l, abs=1.0)
    assert stats["fov_fraction"] == 1.0  # no vignette: the field is the frame
    assert stats["resolution_mp"] == pytest.approx(0.072)


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shift")
    return {
        "light": write_release(
            root / "light", patients=30, seed=21, size=64, skin_types=("I", "II")
        ),
        "light2": write_release(
            root / "light2", patients=30, seed=22, size=64, skin_types=("I", "II")
        ),
        "dark": write_release(
            root / "dark",
            patients=30,
            seed=23,
            size=64,
            skin_types=("V", "VI"),
            device="FotoFinder",
        ),
    }


def test_shift_between_light_and_dark_skin_releases(
    releases: dict[str, Path], tmp_path: Path
) -> None:
    res = dermset(
        "shift",
        releases["light"],
        "--reference",
        releases["dark"],
        "--permutations",
        "30",
        "--out",
        tmp_path / "out",
        "--json",
    )
    assert res.code == 0, res.err
    data = res.json()
    stats = {s["statistic"]: s for s in data["images"]["statistics"]}
    assert stats["ita"]["a_median"] > 30 > stats["ita"]["b_median"]  # light vs dark skin
    assert stats["ita"]["smd"] > 1.5
    test = data["images"]["classifier_test"]
    assert test["statistic"] > 0.85 and test["p_value"] <= 1 / 31 + 1e-9
    cov = {c["field"]: c for c in data["covariates"]}
    assert cov["acquisition_device"]["total_variation"] == pytest.approx(1.0)
    assert cov["fitzpatrick_skin_type"]["total_variation"] == pytest.approx(1.0)
    assert (tmp_path / "out" / "figures" / "shift_images.png").is_file()
    assert (tmp_path / "out" / "figures" / "shift_tests.png").is_file()


def test_no_shift_between_two_draws_of_the_same_population(releases: dict[str, Path]) -> None:
    res = dermset(
        "shift",
        releases["light"],
        "--reference",
        releases["light2"],
        "--permutations",
        "30",
        "--json",
    )
    data = res.json()
    test = data["images"]["classifier_test"]
    assert test["statistic"] < 0.7
    assert test["p_value"] > 0.05


def test_classifier_test_keeps_a_patient_on_one_side_of_each_fold() -> None:
    """Ten near-identical images per patient: a test that split patients across folds would
    recognise the patients, not the samples, and call two equal populations different."""
    rng = np.random.default_rng(3)
    patients = rng.normal(0, 1, (60, 4))
    x = np.repeat(patients, 10, axis=0) + rng.normal(0, 0.01, (600, 4))
    groups = np.repeat(np.arange(60), 10)
    side = np.arange(60) % 2 == 1
    a, b = x[~side[groups]], x[side[groups]]
    result = classifier_two_sample_test(
        a, b, groups[~side[groups]], groups[side[groups]], permutations=40, seed=1
    )
    assert result.p_value > 0.05


def test_mmd_detects_a_shift_in_embeddings_and_not_its_absence() -> None:
    rng = np.random.default_rng(4)
    same = mmd_permutation_test(
        rng.normal(0, 1, (150, 16)), rng.normal(0, 1, (120, 16)), permutations=200, seed=2
    )
    moved = mmd_permutation_test(
        rng.normal(0, 1, (150, 16)), rng.normal(0.4, 1, (120, 16)), permutations=200, seed=2
    )
    assert same.p_value > 0.05
    assert moved.p_value < 0.01
    assert moved.statistic > same.statistic


def test_embeddings_that_do_not_line_up_are_refused(
    releases: dict[str, Path], tmp_path: Path
) -> None:
    np.save(tmp_path / "a.npy", np.zeros((3, 8)))
    np.save(tmp_path / "b.npy", np.zeros((3, 8)))
    res = dermset(
        "shift",
        releases["light"],
        "--reference",
        releases["dark"],
        "--no-images",
        "--embeddings",
        tmp_path / "a.npy",
        "--reference-embeddings",
        tmp_path / "b.npy",
    )
    assert res.code == 2
    assert "a.npy: expected a 2-D array with one row per image" in " ".join(res.err.split())
