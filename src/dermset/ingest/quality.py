"""The acquisition SOP's quality checks: measured values, then pass / warn / fail verdicts.

Measuring (:func:`measure`) runs in the worker on the images decoded once (decode.py); each
check uses the scale it needs (docs/sop-calibration.md shows why):

* resolution: the header's size, no pixels needed;
* focus (``sharpness``): the analysis image (long side ~1,000 px, the JPEG's 1/2-1/4 DCT decode),
  because fine blur vanishes at 1/8;
* exposure, clipping, colour cast, field of view and lesion position: the small image (short
  side 256 px), where they are already stable.

Judging (:func:`judge`) compares the values with the protocol's thresholds in the main process,
so a changed protocol can re-judge stored values without decoding anything again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from dermset.ingest.decode import Decoded
from dermset.ingest.fov import find_field, find_lesion
from dermset.protocol import SOP

Verdict = Literal["pass", "warn", "fail"]

#: Skin chromaticity (r, g, b sums to 1) of the calibration images and the direction in which
#: skin tones vary (first principal component: pale pink to dark brown). The colour cast is the
#: distance *across* that line, so darker skin types are not mistaken for a cast (fitted by
#: benchmarks/calibrate_sop.py on the real images in shared/data).
SKIN_REF = np.array([0.3677, 0.3171, 0.3180])
SKIN_AXIS = np.array([0.7684, -0.1450, -0.6234])

#: where each check is measured
SCALES = {
    "resolution_mp": "header",
    "sharpness": "analysis",
    "underexposure": "small",
    "overexposure": "small",
    "clipped_fraction": "small",
    "lesion_offset": "small",
    "lesion_edge_contact": "small",
    "colour_cast": "small",
}


@dataclass
class Measurements:
    values: dict[str, float | None]
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    check: str
    value: float | None
    verdict: Verdict
    note: str = ""


def sharpness(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Re-blur focus measure: the share of Laplacian energy a 1-px Gaussian blur removes.

    A sharp image loses most of its finest detail when blurred again; an out-of-focus one has
    little left to lose. Being a ratio of the image to itself, it does not depend on how much
    texture the skin or lesion has (Crété-Roffet et al. 2007 use the same principle).
    """
    lap = cv2.Laplacian(gray, cv2.CV_16S, ksize=3)
    lap_blur = cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), 1.0), cv2.CV_16S, ksize=3)
    m = None if mask is None or mask.sum() < 100 else mask.astype(np.uint8)
    e = float(cv2.meanStdDev(lap, mask=m)[1][0, 0]) ** 2
    if e < 1e-6:
        return 0.0
    e_blur = float(cv2.meanStdDev(lap_blur, mask=m)[1][0, 0]) ** 2
    return float(np.clip(1.0 - e_blur / e, 0.0, 1.0))


def focus_region(analysis: np.ndarray, field_mask: np.ndarray, side: int = 512):
    """The central part of the field at analysis scale, where the SOP puts the lesion.

    At most ``side`` x ``side`` px: focus is judged where it matters, at a quarter of the cost
    of the whole frame.
    """
    h, w = analysis.shape[:2]
    mh, mw = field_mask.shape
    ys, xs = np.nonzero(field_mask)
    if len(xs) == 0:
        cy, cx = h / 2, w / 2
    else:
        cy, cx = ys.mean() * h / mh, xs.mean() * w / mw
    half = side // 2
    y0 = int(np.clip(cy - half, 0, max(0, h - side)))
    x0 = int(np.clip(cx - half, 0, max(0, w - side)))
    crop = analysis[y0 : y0 + side, x0 : x0 + side]
    fm = cv2.resize(field_mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    fm = fm[y0 : y0 + side, x0 : x0 + side]
    fm = cv2.erode(fm, np.ones((15, 15), np.uint8)).astype(bool)
    return crop, fm


def colour_cast(skin_rgb_mean: np.ndarray) -> float:
    """Distance of the skin's chromaticity from the line of natural skin tones."""
    c = skin_rgb_mean / max(float(skin_rgb_mean.sum()), 1e-6)
    d = c - SKIN_REF
    across = d - np.dot(d, SKIN_AXIS) * SKIN_AXIS
    return float(np.linalg.norm(across))


def skin_colour(small: np.ndarray, skin: np.ndarray) -> np.ndarray | None:
    """Mean RGB of the skin (uint8 mask) without glare and vignette; None if too little."""
    usable = cv2.bitwise_and(cv2.inRange(small, (6, 6, 6), (249, 249, 249)), skin * 255)
    if cv2.countNonZero(usable) <= 50:
        return None
    return np.array(cv2.mean(small, mask=usable)[:3])


def measure(decoded: Decoded, small: np.ndarray | None = None) -> Measurements:
    small = decoded.small() if small is None else small
    values: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    values["resolution_mp"] = decoded.width * decoded.height / 1e6

    fld = find_field(small)
    notes["field"] = (
        f"circular field found (circularity {fld.circularity:.2f})"
        if fld.vignette
        else "no vignette: the field fills the frame"
    )
    m8 = fld.mask.astype(np.uint8)
    n_field = max(1, cv2.countNonZero(m8))
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    mean_lum = cv2.mean(gray, mask=m8)[0] / 255.0
    values["underexposure"] = mean_lum
    values["overexposure"] = mean_lum
    # clipped: a channel blown out (>= 254) or the pixel black (all <= 2). A single channel at 0
    # is not counted: the blue channel of dark pigment is often 0 in well-exposed images.
    # (OpenCV's masked counts: numpy's boolean indexing was the slowest step, measured.)
    blown = 255 - cv2.inRange(small, (0, 0, 0), (253, 253, 253))
    black = cv2.inRange(small, (0, 0, 0), (2, 2, 2))
    clipped = cv2.bitwise_and(cv2.bitwise_or(blown, black), m8 * 255)
    values["clipped_fraction"] = cv2.countNonZero(clipped) / n_field

    lesion = find_lesion(small, fld)
    skin = m8
    if lesion is None:
        values["lesion_offset"] = None
        values["lesion_edge_contact"] = None
        notes["lesion_offset"] = notes["lesion_edge_contact"] = "no lesion found in the field"
    else:
        values["lesion_offset"] = lesion.offset
        values["lesion_edge_contact"] = lesion.edge_contact
        notes["lesion_offset"] = f"lesion covers {lesion.area_fraction:.0%} of the field"
        grown = cv2.dilate(lesion.mask.astype(np.uint8), np.ones((9, 9), np.uint8))
        around = cv2.bitwise_and(m8, 1 - grown)
        if cv2.countNonZero(around) >= 0.05 * n_field:  # else the lesion fills the field
            skin = around
    skin_rgb = skin_colour(small, skin)
    values["colour_cast"] = None if skin_rgb is None else colour_cast(skin_rgb)

    # focus on the analysis image, inside the field (the vignette's edge is not detail)
    crop, fmask = focus_region(decoded.analysis, fld.mask)
    values["sharpness"] = sharpness(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), fmask)
    return Measurements(values, notes)


def judge(measurements: Measurements, sop: SOP) -> tuple[list[CheckResult], Verdict, float]:
    """Verdicts against the protocol's thresholds, the overall verdict and a 0-1 score.

    A check whose value could not be measured (e.g. no lesion found) is a warning: a person
    should look. The score (higher is better) ranks duplicates for the keep policy: each check
    contributes 1 when it passes, 0 at its fail limit, linearly between.
    """
    results: list[CheckResult] = []
    scores: list[float] = []
    for name, threshold in sop.checks.items():
        value = measurements.values.get(name)
        note = measurements.notes.get(name, "")
        if name not in measurements.values:
            continue  # a protocol check this version does not measure
        if value is None:
            results.append(CheckResult(name, None, "warn", note or "could not be measured"))
            scores.append(0.5)
            continue
        verdict = threshold.verdict(value)
        results.append(CheckResult(name, value, verdict, note))
        span = threshold.warn - threshold.fail
        goodness = (value - threshold.fail) / span if span else float(verdict != "fail")
        scores.append(float(np.clip(goodness, 0.0, 1.0)))
    verdicts = {r.verdict for r in results}
    overall: Verdict = "fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass"
    # resolution breaks ties between otherwise equal copies (a resized copy loses)
    mp = measurements.values.get("resolution_mp") or 0.0
    score = 0.9 * (float(np.mean(scores)) if scores else 0.0) + 0.1 * min(1.0, mp / 12.0)
    return results, overall, round(score, 4)
