"""Agreement of a model's saliency maps with the experts' annotations.

A saliency map is a file per image in SALIENCY_DIR, named by the release's ``isic_id``:
``<isic_id>.npy`` (a 2-D float array) or ``<isic_id>.png`` (grey levels). Signed attributions
(e.g. integrated gradients) are taken by magnitude. Maps are resized to the mask's grid.

* Where a lesion or structure mask exists: IoU of the map's top pixels with the mask, at equal
  area (the |mask| highest pixels, so no threshold has to be chosen), and the pointing game
  (Zhang et al. 2018: the map's maximum falls in the mask, within a small tolerance).
* Where structures are only annotated as present (``structures.csv``): the share of saliency
  mass inside the lesion, against the lesion's share of the image (what a uniform map would
  give), per structure and per category. Without a lesion mask the lesion is found by ingest's
  lesion finder and marked "estimated".

Means carry 95 % intervals from a patient-level cluster bootstrap, as in the evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from dermset.analysis.bootstrap import clusters_from, percentile_interval, replicate_weights
from dermset.analysis.metrics import Linear
from dermset.ingest.decode import DecodeError, decode
from dermset.ingest.fov import find_field, find_lesion
from dermset.model.problems import Problem
from dermset.model.structures import StructureVocabulary, UnknownStructure
from dermset.release.reader import Release

POINTING_TOLERANCE = 15  # pixels on the mask's grid, as in Zhang et al.'s pointing game
SALIENCY_SUFFIXES = (".npy", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
_ATTRIBUTE = re.compile(r"^(?P<image>.+?)_attribute_(?P<structure>.+)$")


class SaliencyError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:20])
        super().__init__(f"{len(problems)} problem(s):\n  {shown}")


@dataclass
class ImageScores:
    image: str
    region: str  # "mask" | "estimated"
    mass_inside: float
    area: float
    iou: float
    pointing: float
    structure_iou: dict[str, float] = field(default_factory=dict)
    structure_pointing: dict[str, float] = field(default_factory=dict)


def read_saliency(path: Path) -> np.ndarray:
    """A 2-D non-negative float map; raises ValueError with the reason."""
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot be read as a NumPy array ({exc})") from None
        arr = np.asarray(arr, dtype=float)
        if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
            arr = arr.squeeze()
        if arr.ndim == 3:  # per-channel attributions: combine the magnitudes
            axis = 0 if arr.shape[0] <= 4 else -1
            arr = np.abs(arr).sum(axis=axis)
    else:
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("L"), dtype=float)
        except OSError as exc:
            raise ValueError(f"cannot be read as an image ({exc})") from None
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise ValueError(f"expected a 2-D map, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("contains NaN or infinite values")
    arr = np.abs(arr)
    if arr.sum() <= 0:
        raise ValueError("is zero everywhere")
    return arr


def read_mask(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    with Image.open(path) as im:
        m = np.asarray(im.convert("L"))
    if shape is not None and m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return m > 127


def fit_to(saliency: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if saliency.shape == shape:
        return saliency
    return cv2.resize(
        saliency.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR
    ).astype(float)


def agreement(
    saliency: np.ndarray, mask: np.ndarray, tolerance: int = POINTING_TOLERANCE
) -> tuple[float, float, float, float]:
    """(mass inside, mask area share, equal-area IoU, pointing hit) of one map and one mask."""
    s = fit_to(saliency, mask.shape)
    total = s.sum()
    area = int(mask.sum())
    if area == 0 or total <= 0:
        return float("nan"), 0.0, float("nan"), float("nan")
    mass = float(s[mask].sum() / total)
    flat = s.ravel()
    top = np.zeros(flat.size, bool)
    top[np.argpartition(-flat, area - 1)[:area]] = True
    top = top.reshape(mask.shape)
    iou = float((top & mask).sum() / (top | mask).sum())
    near = mask
    if tolerance > 0:
        k = 2 * tolerance + 1
        near = cv2.dilate(
            mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        ).astype(bool)
    # a plateau of tied maxima counts by the share of it that hits: the expected result of
    # breaking the tie at random (a binary map has no single maximum)
    peak = s >= s.max()
    return mass, float(area / mask.size), iou, float(near[peak].mean())


def _estimated_lesion(image_path: Path) -> np.ndarray | None:
    try:
        small = decode(image_path.read_bytes()).small()
    except (DecodeError, OSError):
        return None
    found = find_lesion(small, find_field(small))
    return None if found is None else found.mask


def structure_masks(
    folder: Path | None, vocabulary: StructureVocabulary
) -> dict[str, dict[str, Path]]:
    """``<isic_id>_attribute_<name>.png`` (ISIC 2018 task 2) or ``<isic_id>_<code>.png``."""
    out: dict[str, dict[str, Path]] = {}
    if folder is None:
        return out
    codes = set(vocabulary.codes)
    for path in sorted(folder.glob("*.png")):
        stem = path.stem
        hit = _ATTRIBUTE.match(stem)
        image, term = (hit["image"], hit["structure"]) if hit else (None, None)
        if hit is None:
            for code in codes:
                if stem.endswith("_" + code):
                    image, term = stem[: -len(code) - 1], code
                    break
        if image is None or term is None:
            continue
        try:
            out.setdefault(image, {})[vocabulary.resolve(term)] = path
        except UnknownStructure:
            continue
    return out


def saliency_files(folder: Path, release: Release) -> tuple[dict[str, Path], list[Problem]]:
    if not folder.is_dir():
        raise SaliencyError(
            [Problem("saliency folder not found", rule="not_found", file=str(folder))]
        )
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    known = set(release.metadata.index)
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in SALIENCY_SUFFIXES:
            continue
        if path.stem not in known:
            problems.append(
                Problem(
                    f"names no image of release {release.name}",
                    rule="unknown_image",
                    file=path.name,
                )
            )
            continue
        files.setdefault(path.stem, path)
    return files, problems


def score_images(
    release: Release,
    folder: Path,
    *,
    structure_mask_dir: Path | None = None,
    vocabulary: StructureVocabulary | None = None,
    tolerance: int = POINTING_TOLERANCE,
) -> tuple[list[ImageScores], list[Problem]]:
    files, problems = saliency_files(folder, release)
    smasks = structure_masks(structure_mask_dir, vocabulary or StructureVocabulary())
    scores: list[ImageScores] = []
    for image, path in files.items():
        try:
            sal = read_saliency(path)
        except ValueError as exc:
            problems.append(Problem(str(exc), rule="bad_saliency", file=path.name))
            continue
        region = "mask"
        if image in release.masks:
            mask = read_mask(release.masks[image])
        else:
            region = "estimated"
            mask = (
                _estimated_lesion(release.image_paths[image])
                if image in release.image_paths
                else None
            )
            if mask is None:
                problems.append(
                    Problem(
                        "no lesion mask and no lesion found in the image",
                        rule="no_lesion",
                        file=path.name,
                        severity="warning",
                    )
                )
                continue
        mass, area, iou, hit = agreement(sal, mask, tolerance)
        entry = ImageScores(image, region, mass, area, iou, hit)
        for code, mpath in smasks.get(image, {}).items():
            smask = read_mask(mpath)
            if smask.any():
                _, _, s_iou, s_hit = agreement(sal, smask, tolerance)
                entry.structure_iou[code] = s_iou
                entry.structure_pointing[code] = s_hit
        scores.append(entry)
    if not scores:
        problems.insert(
            0,
            Problem(
                f"no usable saliency map for an image of {release.name} in {folder}",
                rule="empty",
                file=str(folder),
            ),
        )
        raise SaliencyError(problems)
    return scores, problems


METRICS = ("mass_inside", "area", "concentration", "iou", "pointing")


def _summaries(
    frame: pd.DataFrame,
    groups: Iterable[tuple[str, np.ndarray]],
    replicates: int,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Mean of each metric per group, with a cluster-bootstrap interval."""
    out = []
    for label, rows in groups:
        if not len(rows):
            continue
        sub = frame.iloc[rows]
        cl = clusters_from(list(sub.index), sub["patient_id"], sub["lesion_id"])
        entry: dict[str, Any] = {"group": label, "images": len(rows), "clusters": cl.count}
        values = sub[list(METRICS)].to_numpy(float)
        present = np.isfinite(values)
        lin = Linear(
            np.hstack([np.where(present, values, 0.0), present.astype(float)]), cl.index, cl.count
        )
        point = lin(np.ones((cl.count, 1)))[:, 0]
        reps = [lin(w) for w in replicate_weights(cl, replicates, rng)] if replicates else []
        rep = np.hstack(reps) if reps else np.zeros((2 * len(METRICS), 0))
        k = len(METRICS)
        for j, name in enumerate(METRICS):
            value = point[j] / point[k + j] if point[k + j] else float("nan")
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = rep[j] / rep[k + j]
            low, high = percentile_interval(boot) if rep.shape[1] else (np.nan, np.nan)
            entry[name] = {
                "value": _num(value),
                "low": _num(low),
                "high": _num(high),
                "n": int(present[:, j].sum()),
            }
        out.append(entry)
    return out


def _num(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def interpret(
    release: Release,
    folder: str | Path,
    *,
    structure_mask_dir: str | Path | None = None,
    tolerance: int = POINTING_TOLERANCE,
    replicates: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    scores, problems = score_images(
        release,
        Path(folder),
        structure_mask_dir=Path(structure_mask_dir) if structure_mask_dir else None,
        tolerance=tolerance,
    )
    meta = release.metadata
    frame = pd.DataFrame(
        [
            {
                "mass_inside": s.mass_inside,
                "area": s.area,
                "concentration": s.mass_inside / s.area if s.area else np.nan,
                "iou": s.iou,
                "pointing": s.pointing,
                "region": s.region,
            }
            for s in scores
        ],
        index=[s.image for s in scores],
    )
    for col in ("patient_id", "lesion_id", "diagnosis_category"):
        frame[col] = meta[col].reindex(frame.index).to_numpy() if col in meta.columns else None
    rng = np.random.default_rng(seed)
    idx = {image: i for i, image in enumerate(frame.index)}
    all_rows = np.arange(len(frame))
    overall = _summaries(frame, [("all images", all_rows)], replicates, rng)
    cats = frame["diagnosis_category"]
    by_category = _summaries(
        frame,
        [(c, np.flatnonzero(cats.to_numpy() == c)) for c in release.taxonomy.codes],
        replicates,
        rng,
    )
    by_structure: list[dict[str, Any]] = []
    if release.structures is not None and len(release.structures):
        present = release.structures
        groups = []
        for code, rows in present.groupby("structure"):
            members = sorted({idx[i] for i in rows["isic_id"] if i in idx})
            groups.append((str(code), np.asarray(members, dtype=int)))
        by_structure = _summaries(frame, groups, replicates, rng)
    structure_masks_summary = []
    codes = sorted({c for s in scores for c in s.structure_iou})
    for code in codes:
        ious = [s.structure_iou[code] for s in scores if code in s.structure_iou]
        hits = [s.structure_pointing[code] for s in scores if code in s.structure_pointing]
        structure_masks_summary.append(
            {
                "structure": code,
                "images": len(ious),
                "iou": float(np.nanmean(ious)),
                "pointing": float(np.nanmean(hits)),
            }
        )
    return {
        "release": release.name,
        "saliency_dir": str(folder),
        "images_scored": len(frame),
        "images_in_release": len(meta),
        "lesion_regions": frame["region"].value_counts().to_dict(),
        "tolerance_px": tolerance,
        "bootstrap": {"replicates": replicates, "seed": seed},
        "overall": overall[0],
        "by_category": by_category,
        "by_structure": by_structure,
        "structure_masks": structure_masks_summary,
        "per_image": frame.reset_index(names="image").replace({np.nan: None}).to_dict("records"),
        "problems": [p.to_dict() for p in problems],
    }
