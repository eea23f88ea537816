"""`dermset interpret`: saliency maps against lesion masks, structure masks and annotations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cli_helpers import dermset
from conftest import IMAGES
from dermset.analysis.interpret import agreement, interpret
from dermset.release.reader import load_release
from test_evaluate_synthetic import write_release

HAM_TEST = IMAGES / "ham10000_artefact_insertion"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release(tmp_path_factory.mktemp("rel") / "release", patients=25, seed=31, size=64)


def _mask(release: Path, image: str) -> np.ndarray:
    return np.asarray(Image.open(release / "masks" / f"{image}.png")) > 127


def _write_maps(release: Path, folder: Path, kind: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ids = list(pd.read_csv(release / "metadata.csv")["isic_id"])
    for image in ids:
        m = _mask(release, image).astype(float)
        if kind == "mask":
            sal = m
        elif kind == "outside":
            sal = 1.0 - m
        else:
            sal = np.ones_like(m)
        if kind == "mask":
            np.save(folder / f"{image}.npy", sal)
        else:  # PNG maps at another resolution, as some tools write them
            small = Image.fromarray((255 * sal).astype(np.uint8)).resize((32, 32))
            small.save(folder / f"{image}.png")
    return ids


def test_metrics_of_one_map_and_mask() -> None:
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    mass, area, iou, hit = agreement(mask.astype(float), mask)
    assert (mass, iou, hit) == (1.0, 1.0, 1.0) and area == pytest.approx(100 / 1600)
    away = np.zeros((40, 40))
    away[35, 35] = 1.0
    mass, _, iou, hit = agreement(away + 1e-9, mask, tolerance=0)
    assert mass == pytest.approx(100e-9 / (1 + 1600e-9)) and hit == 0.0 and iou < 0.01
    _, _, _, near = agreement(away, mask, tolerance=30)
    assert near == 1.0  # within the pointing game's tolerance


def test_a_map_equal_to_the_mask_agrees_perfectly(release: Path, tmp_path: Path) -> None:
    ids = _write_maps(release, tmp_path / "sal", "mask")
    result = interpret(load_release(release), tmp_path / "sal", replicates=100)
    assert result["images_scored"] == len(ids)
    assert result["lesion_regions"] == {"mask": len(ids)}
    overall = result["overall"]
    assert overall["mass_inside"]["value"] == pytest.approx(1.0)
    assert overall["iou"]["value"] == pytest.approx(1.0)
    assert overall["pointing"]["value"] == 1.0
    structures = pd.read_csv(release / "structures.csv")
    counts = structures.groupby("structure")["isic_id"].nunique().to_dict()
    assert {g["group"]: g["images"] for g in result["by_structure"]} == counts
    meta = pd.read_csv(release / "metadata.csv")
    cats = meta["diagnosis_category"].value_counts().to_dict()
    assert {g["group"]: g["images"] for g in result["by_category"]} == cats


def test_maps_off_the_lesion_and_uniform_maps(release: Path, tmp_path: Path) -> None:
    _write_maps(release, tmp_path / "out", "outside")
    off = interpret(load_release(release), tmp_path / "out", replicates=0, tolerance=0)
    off = off["overall"]
    assert off["mass_inside"]["value"] < 0.1
    assert off["pointing"]["value"] == 0.0
    _write_maps(release, tmp_path / "flat", "uniform")
    flat = interpret(load_release(release), tmp_path / "flat", replicates=0)["overall"]
    # a uniform map puts as much mass in the lesion as the lesion has area
    assert flat["concentration"]["value"] == pytest.approx(1.0, abs=0.05)
    assert flat["mass_inside"]["value"] == pytest.approx(flat["area"]["value"], abs=0.02)


def test_structure_masks_in_isic_2018_task2_naming(release: Path, tmp_path: Path) -> None:
    ids = _write_maps(release, tmp_path / "sal", "mask")[:4]
    masks = tmp_path / "structure_masks"
    masks.mkdir()
    for image in ids:
        m = _mask(release, image)
        Image.fromarray((255 * m).astype(np.uint8)).save(masks / f"{image}_attribute_globules.png")
        Image.fromarray((255 * ~m).astype(np.uint8)).save(
            masks / f"{image}_attribute_pigment_network.png"
        )
    result = interpret(
        load_release(release), tmp_path / "sal", structure_mask_dir=masks, replicates=0, tolerance=0
    )
    by = {s["structure"]: s for s in result["structure_masks"]}
    assert by["globules"]["images"] == 4 and by["globules"]["iou"] == pytest.approx(1.0)
    assert by["pigment_network"]["pointing"] == 0.0


def test_real_ham10000_images_with_their_masks(shared_data, tmp_path: Path) -> None:
    """The five HAM10000 test images with their real segmentation masks; maps peak at the
    mask's centroid, as a model attending to the lesion would."""
    rel = tmp_path / "ham"
    (rel / "images").mkdir(parents=True)
    (rel / "masks").mkdir()
    rows = []
    sal = tmp_path / "sal"
    sal.mkdir()
    for src in sorted((HAM_TEST / "test_images").glob("*.jpg")):
        image = src.stem
        shutil.copy(src, rel / "images" / src.name)
        shutil.copy(
            HAM_TEST / "test_masks" / f"{image}_segmentation.png", rel / "masks" / f"{image}.png"
        )
        mask = np.asarray(Image.open(rel / "masks" / f"{image}.png")) > 127
        ys, xs = np.nonzero(mask)
        yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
        peak = np.exp(-((yy - ys.mean()) ** 2 + (xx - xs.mean()) ** 2) / (2 * 40.0**2))
        np.save(sal / f"{image}.npy", peak[::4, ::4])
        rows.append(
            {
                "isic_id": image,
                "patient_id": f"p{len(rows)}",
                "lesion_id": image,
                "diagnosis_category": "NV",
            }
        )
    pd.DataFrame(rows).to_csv(rel / "metadata.csv", index=False)
    res = dermset(
        "interpret", rel, sal, "--out", tmp_path / "report", "--bootstrap", "100", "--json"
    )
    assert res.code == 0, res.err
    data = res.json()
    assert data["images_scored"] == 5
    assert data["overall"]["pointing"]["value"] == 1.0
    assert data["overall"]["concentration"]["value"] > 1.5
    assert (tmp_path / "report" / "figures" / "interpret_examples.png").is_file()
    # without masks the lesion is found in the image itself
    shutil.rmtree(rel / "masks")
    estimated = interpret(load_release(rel), sal, replicates=0)
    assert estimated["lesion_regions"] == {"estimated": 5}
    assert estimated["overall"]["mass_inside"]["value"] > estimated["overall"]["area"]["value"]


def test_bad_saliency_files_are_reported(release: Path, tmp_path: Path) -> None:
    ids = _write_maps(release, tmp_path / "sal", "mask")
    bad = np.ones((64, 64))
    bad[0, 0] = np.nan
    np.save(tmp_path / "sal" / f"{ids[0]}.npy", bad)
    np.save(tmp_path / "sal" / "NOT_AN_IMAGE.npy", np.ones((8, 8)))
    (tmp_path / "sal" / f"{ids[1]}.npy").write_bytes(b"not numpy")
    res = dermset("interpret", release, tmp_path / "sal", "--bootstrap", "0", "--json")
    assert res.code == 0, res.err
    problems = {(p["file"], p["message"]) for p in res.json()["problems"]}
    assert (f"{ids[0]}.npy", "contains NaN or infinite values") in problems
    assert any(f == "NOT_AN_IMAGE.npy" and "names no image" in m for f, m in problems)
    assert any(f == f"{ids[1]}.npy" and "cannot be read" in m for f, m in problems)
    assert res.json()["images_scored"] == len(ids) - 2
    empty = tmp_path / "empty"
    empty.mkdir()
    res = dermset("interpret", release, empty)
    assert res.code == 2 and "no usable saliency map" in res.err
    assert json.dumps(res.err).count("Traceback") == 0
