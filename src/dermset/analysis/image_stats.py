"""Per-image statistics for shift analysis and the baseline model.

Reuses ingest's safe decoder (JPEG decoded in the DCT domain at reduced size), its field-of-view
and lesion finders and its focus measure, so a statistic here means what the SOP check means.
Colour is measured in CIELAB: brightness is the mean L* inside the field of view, skin colour is
the individual typology angle ITA = atan((L* − 50) / b*) of the skin around the lesion (Chardon
et al. 1991; > 55° very light … < −30° dark), the measure dermatology datasets use to describe
skin-tone coverage when Fitzpatrick types are not recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from dermset.ingest.decode import DecodeError, decode
from dermset.ingest.fov import find_field, find_lesion
from dermset.ingest.quality import sharpness

#: statistic → (what a reader sees, unit)
STATISTICS: dict[str, tuple[str, str]] = {
    "brightness": ("brightness (mean L* in the field of view)", "L*"),
    "ita": ("individual typology angle of the skin", "°"),
    "sharpness": ("focus (share of fine detail; SOP measure)", ""),
    "resolution_mp": ("resolution", "MP"),
    "fov_fraction": ("field of view (share of the frame)", ""),
    "lesion_fraction": ("lesion size (share of the field)", ""),
}
#: colour features the baseline model adds to the statistics
COLOUR_FEATURES = tuple(
    f"{region}_{channel}_{stat}"
    for region in ("lesion", "skin")
    for channel in ("L", "a", "b")
    for stat in ("mean", "std")
)
MIN_SKIN_PIXELS = 50


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _mask_for(mask_path: Path | None, shape: tuple[int, int]) -> np.ndarray | None:
    if mask_path is None:
        return None
    with Image.open(mask_path) as im:
        m = np.asarray(im.convert("L"))
    m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return m > 127


def image_statistics(path: str | Path, mask_path: str | Path | None = None) -> dict[str, float]:
    """All statistics of one image (NaN where a statistic cannot be measured).

    Raises ``DecodeError`` for a file that is not a usable image.
    """
    decoded = decode(Path(path).read_bytes())
    small = decoded.small()
    field = find_field(small)
    lesion = _mask_for(Path(mask_path) if mask_path else None, small.shape[:2])
    if lesion is None:
        found = find_lesion(small, field)
        lesion = found.mask if found is not None else np.zeros(small.shape[:2], bool)
    lesion &= field.mask
    lab = _lab(small)
    grown = cv2.dilate(lesion.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    skin = field.mask & ~grown
    not_glare = (small.max(axis=2) < 250) & (small.min(axis=2) > 5)
    skin &= not_glare
    out: dict[str, float] = {
        "brightness": float(lab[..., 0][field.mask].mean()),
        "ita": float("nan"),
        "resolution_mp": decoded.width * decoded.height / 1e6,
        "fov_fraction": float(field.mask.mean()),
        "lesion_fraction": float(lesion.sum() / max(1, field.mask.sum())),
    }
    if skin.sum() >= MIN_SKIN_PIXELS:
        big_l = float(np.median(lab[..., 0][skin]))
        big_b = float(np.median(lab[..., 2][skin]))
        out["ita"] = float(np.degrees(np.arctan2(big_l - 50.0, big_b)))
    analysis = decoded.analysis
    gray = cv2.cvtColor(analysis, cv2.COLOR_RGB2GRAY)
    fmask = cv2.resize(
        field.mask.astype(np.uint8),
        (analysis.shape[1], analysis.shape[0]),
        interpolation=cv2.INTER_NEAREST,
    )
    out["sharpness"] = sharpness(gray, cv2.erode(fmask, np.ones((15, 15), np.uint8)).astype(bool))
    for region, sel in (("lesion", lesion), ("skin", skin)):
        for i, channel in enumerate("Lab"):
            values = lab[..., i][sel]
            enough = values.size >= MIN_SKIN_PIXELS
            out[f"{region}_{channel}_mean"] = float(values.mean()) if enough else float("nan")
            out[f"{region}_{channel}_std"] = float(values.std()) if enough else float("nan")
    return out


def _one(job: tuple[str, str | None]) -> dict[str, float] | str:
    path, mask = job
    try:
        return image_statistics(path, mask)
    except (DecodeError, OSError, ValueError) as exc:
        return f"{Path(path).name}: {exc}"


def statistics_table(
    images: Iterable[tuple[str, Path, Path | None]], workers: int = 1
) -> tuple[pd.DataFrame, list[str]]:
    """Statistics for (id, image path, mask path or None) triples; unreadable images are listed,
    not fatal. ``workers`` > 1 spreads decoding over processes."""
    items = list(images)
    jobs = [(str(p), str(m) if m else None) for _, p, m in items]
    if workers > 1 and len(jobs) > 8:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_one, jobs, chunksize=16))
    else:
        results = [_one(j) for j in jobs]
    rows, index, errors = [], [], []
    for (image_id, _, _), result in zip(items, results, strict=True):
        if isinstance(result, str):
            errors.append(result)
            continue
        rows.append(result)
        index.append(image_id)
    return pd.DataFrame(rows, index=index), errors
