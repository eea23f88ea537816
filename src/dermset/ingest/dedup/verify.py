"""Pair verification on pixels: is one image a copy derived from the other?

A perceptual-hash match only says two images look alike; dermoscopy images of different lesions
on similar skin often do. A pair is confirmed as a duplicate when

1. local features (ORB) of one image map onto the other by one affine transform (RANSAC), which
   covers resizing (also with a changed aspect ratio), crops, 90° and slight rotations; a mirrored
   copy is tried by mirroring one image first (ORB is rotation- but not mirror-invariant); and
2. the mapping is *rigid to a fraction of a pixel everywhere*: after warping the sharper image
   into the other's frame, the remaining local shift of every textured patch (phase
   correlation) is measured and a global affine correction is fitted to those shifts; for a copy
   the patches' residual shifts stay within ~0.3 px (resampling and JPEG noise), because a copy
   *is* an affine image of its source. A second capture of the same lesion, even one shifted by
   a few pixels with the same bubbles in view (HAM10000 ISIC_0024688 / ISIC_0026352), is not:
   the contact plate presses the skin a little differently, bubbles and hairs move, so parts of
   the frame land 0.4-2 px away from where any single affine map puts them.
   Brightness and colour shifts do not matter: phase correlation is normalised.

Thresholds were calibrated on the real images (docs/duplicates.md). Two near-identical captures
that are also rigid to 0.3 px cannot be told from a copy by their pixels; the registry's lesion
link does that (see resolve.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache

import cv2
import numpy as np

#: images are compared with their longest side at most this many pixels
WORK_SIDE = 512
#: smaller images are upscaled to this for feature detection
MIN_SIDE = 320
MIN_INLIERS = 12
#: a copy's patches stay within this many pixels (90th percentile) of one affine map
MAX_MISFIT_PX = 0.45
#: stricter, when the registry already links both images to one lesion, where second captures
#: are expected (benchmarks/bench_duplicates.py: copies median 0.21 px, 95 % ≤ 0.34 px;
#: pairs across two captures of one lesion median 0.45 px, lowest 0.17 px)
MAX_MISFIT_SAME_LESION_PX = 0.36
#: fewer textured patches than this: rigidity cannot be measured
MIN_PATCHES = 6
#: one image must lie (almost) inside the other
MIN_CONTAINMENT = 0.6
#: scene-resolution ratio from which two images count as taken at different zoom
ZOOM_RATIO = 1.25
#: an upscaled crop measured up to 2.9× the detail of its (reduced) source; a zoomed second
#: capture 1.6-2.8×, so this only catches clear cases unless both images are of one lesion
MAX_EXTRA_DETAIL = 3.0


@dataclass
class Verdict:
    """The outcome of verifying one candidate pair."""

    duplicate: bool
    reason: str
    inliers: int = 0
    #: 90th percentile of local residual shifts after the best affine map (pixels)
    misfit_px: float | None = None
    patches: int = 0
    #: at different zoom: the sharper image's fine detail relative to the other's upsampled
    extra_detail: float | None = None
    containment: float | None = None
    mirrored: bool = False
    #: affine map from the second image's pixels to the first's (2×3), when one was found
    affine: list[list[float]] | None = None
    transform: dict[str, float | bool] = field(default_factory=dict)

    def evidence(self) -> dict:
        return asdict(self)


@cache
def _orb() -> cv2.ORB:
    return cv2.ORB_create(nfeatures=3000, fastThreshold=5)


@cache
def _matcher() -> cv2.BFMatcher:
    return cv2.BFMatcher(cv2.NORM_HAMMING)


def _gray(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(rgb)


def native(rgb: np.ndarray) -> np.ndarray:
    """Grey image with its longest side at most 512 px (never upscaled)."""
    g = _gray(rgb)
    h, w = g.shape
    if max(h, w) > WORK_SIDE:
        s = WORK_SIDE / max(h, w)
        g = cv2.resize(
            g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    return g


def prepare(rgb: np.ndarray) -> np.ndarray:
    """Grey image at working size: longest side ≤ 512 px, upscaled to ≥ 320 px."""
    g = _gray(rgb)
    h, w = g.shape
    side = max(h, w)
    if side > WORK_SIDE:
        s = WORK_SIDE / side
        g = cv2.resize(
            g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    elif side < MIN_SIDE:
        s = MIN_SIDE / side
        g = cv2.resize(
            g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_CUBIC
        )
    return g


def _features(g: np.ndarray):
    kps, desc = _orb().detectAndCompute(g, None)
    pts = np.float32([k.pt for k in kps]) if kps else np.zeros((0, 2), np.float32)
    return pts, desc


def _fit(fa, fb) -> tuple[np.ndarray | None, int]:
    pa, da = fa
    pb, db = fb
    if da is None or db is None or len(da) < 2 or len(db) < 2:
        return None, 0
    good = []
    for pair in _matcher().knnMatch(db, da, k=2):
        if len(pair) == 2 and pair[0].distance < 0.8 * pair[1].distance:
            good.append(pair[0])
    if len(good) < MIN_INLIERS:
        return None, len(good)
    src = pb[[m.queryIdx for m in good]]
    dst = pa[[m.trainIdx for m in good]]
    affine, inl = cv2.estimateAffine2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=3000, confidence=0.995
    )
    if affine is None:
        return None, 0
    return affine, int(inl.sum())


def _misfit(dst: np.ndarray, warped: np.ndarray, valid: np.ndarray) -> tuple[float | None, int]:
    """90th percentile of the patches' shifts left after the best global affine correction."""
    h, w = dst.shape
    size = max(24, min(h, w) // 8)
    window = cv2.createHanningWindow((size, size), cv2.CV_64F)
    shifts, centres = [], []
    for y in range(0, h - size + 1, size):
        for x in range(0, w - size + 1, size):
            if not valid[y : y + size, x : x + size].all():
                continue
            a = dst[y : y + size, x : x + size].astype(np.float64)
            if a.std() < 3:  # flat skin or clipped highlights carry no position
                continue
            b = warped[y : y + size, x : x + size].astype(np.float64)
            (dx, dy), response = cv2.phaseCorrelate(a, b, window)
            if response > 0.15:
                shifts.append((dx, dy))
                centres.append((x + size / 2, y + size / 2))
    if len(shifts) < MIN_PATCHES:
        return None, len(shifts)
    d = np.array(shifts)
    x = np.hstack([np.array(centres), np.ones((len(centres), 1))])
    coef, *_ = np.linalg.lstsq(x, d, rcond=None)
    residual = np.hypot(*(d - x @ coef).T)
    return float(np.percentile(residual, 90)), len(shifts)


def _coverage(fwd: np.ndarray, shape_from: tuple[int, ...], shape_to: tuple[int, ...]) -> float:
    """Fraction of one frame (``shape_from``) that lands inside the other under *fwd*."""
    h, w = shape_from[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=np.float64)
    mapped = (fwd[:2] @ corners.T).T.astype(np.float32)
    hull = cv2.convexHull(mapped)
    th, tw = shape_to[:2]
    frame = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], dtype=np.float32)
    area, _ = cv2.intersectConvexConvex(hull, cv2.convexHull(frame))
    total = cv2.contourArea(hull)
    return float(area / total) if total > 0 else 0.0


def _extra_detail(sharp: np.ndarray, other: np.ndarray, fwd: np.ndarray, ratio: float) -> float:
    """How much more fine detail *sharp* holds than *other* upsampled into its frame (≈1 when
    *sharp* is an upscaled copy of *other*)."""
    h, w = sharp.shape
    up = cv2.warpAffine(
        other.astype(np.float32), fwd[:2].astype(np.float32), (w, h), flags=cv2.INTER_CUBIC
    )
    valid = cv2.warpAffine(
        np.ones(other.shape, np.uint8), fwd[:2].astype(np.float32), (w, h), flags=cv2.INTER_NEAREST
    )
    valid = cv2.erode(valid, np.ones((9, 9), np.uint8)).astype(bool)
    s = sharp.astype(np.float32)
    valid &= (s > 8) & (s < 247)
    if valid.sum() < 400:
        return 1.0
    sigma = max(0.7, 0.5 * ratio)
    hs = (s - cv2.GaussianBlur(s, (0, 0), sigma))[valid]
    hu = (up - cv2.GaussianBlur(up, (0, 0), sigma))[valid]
    return float(hs.var() / max(hu.var(), 1e-6))


def _compare(ga: np.ndarray, gb: np.ndarray, affine: np.ndarray) -> tuple[float | None, int, float]:
    """Rigidity misfit (px), textured patches and containment, in the frame of the less
    detailed image."""
    full = np.vstack([affine, [0, 0, 1]])
    scale = float(np.sqrt(abs(np.linalg.det(full[:2, :2]))))
    if scale >= 1:  # b maps onto a larger area of a: a is sharper, compare in b's frame
        src, dst, fwd = ga, gb, np.linalg.inv(full)
        blur = 0.5 * scale
    else:
        src, dst, fwd = gb, ga, full
        blur = 0.5 / max(scale, 1e-6)
    src = src.astype(np.float32)
    dst = dst.astype(np.float32)
    if blur > 0.6:
        src = cv2.GaussianBlur(src, (0, 0), float(np.sqrt(blur**2 - 0.25)))
    h, w = dst.shape
    m = fwd[:2].astype(np.float32)
    warped = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    valid = cv2.warpAffine(np.ones(src.shape, np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    valid = cv2.erode(valid, np.ones((7, 7), np.uint8)).astype(bool)
    area_src_in_dst = src.shape[0] * src.shape[1] * abs(np.linalg.det(fwd[:2, :2]))
    containment = float(valid.sum()) / max(1.0, min(h * w, area_src_in_dst))
    misfit, patches = _misfit(dst, warped, valid)
    return misfit, patches, min(1.0, containment)


def _zoom_evidence(ga: np.ndarray, gb: np.ndarray, affine: np.ndarray) -> float | None:
    """For two images at different zoom, the sharper one's extra detail when it cannot be a
    downscale source (the other shows scene outside it); None when that question does not arise.

    A copy never adds field of view, and never adds detail. If the less sharp image shows scene
    the sharper one lacks, it is not a copy of it; so the sharper one would have to be an
    upscaled crop of it, without detail of its own.
    """
    full = np.vstack([affine, [0, 0, 1]])  # b -> a
    scale = float(np.sqrt(abs(np.linalg.det(full[:2, :2]))))
    if max(scale, 1 / max(scale, 1e-9)) < ZOOM_RATIO:
        return None
    if scale >= 1:  # a is sharper
        sharp, other, fwd, ratio = ga, gb, full, scale
    else:
        sharp, other, fwd, ratio = gb, ga, np.linalg.inv(full), 1 / scale
    if _coverage(fwd, other.shape, sharp.shape) >= 0.9:
        return None  # the other lies inside the sharper one: a downscaled copy is possible
    return _extra_detail(sharp, other, fwd, ratio)


def verify_pair(
    a: np.ndarray,
    b: np.ndarray,
    *,
    mirrored_first: bool = False,
    same_lesion: bool = False,
) -> Verdict:
    """Decide whether *b* is a copy derived from *a* (or the reverse) from their pixels.

    *same_lesion*: the registry links both to one lesion, so a second capture is the likely
    explanation: the rigidity limit is stricter and a pair at different zoom is never a copy.
    """
    max_misfit = MAX_MISFIT_SAME_LESION_PX if same_lesion else MAX_MISFIT_PX
    na, nb = native(a), native(b)
    ga, gb = prepare(na), prepare(nb)
    # features at working size (small images upscaled); detail compared at native size
    sa = np.diag([na.shape[1] / ga.shape[1], na.shape[0] / ga.shape[0], 1.0])
    sb = np.diag([nb.shape[1] / gb.shape[1], nb.shape[0] / gb.shape[0], 1.0])
    fa = _features(ga)
    best: Verdict | None = None
    for mirrored in (mirrored_first, not mirrored_first):
        gbm = np.ascontiguousarray(gb[:, ::-1]) if mirrored else gb
        affine, inliers = _fit(fa, _features(gbm))
        if affine is None:
            verdict = Verdict(
                False,
                f"no consistent geometric match ({inliers} matches)",
                inliers=inliers,
                mirrored=mirrored,
            )
        else:
            nbm = np.ascontiguousarray(nb[:, ::-1]) if mirrored else nb
            native_affine = (sa @ np.vstack([affine, [0, 0, 1]]) @ np.linalg.inv(sb))[:2]
            misfit, patches, containment = _compare(na, nbm, native_affine)
            sx = float(np.hypot(affine[0, 0], affine[1, 0]))
            sy = float(np.hypot(affine[0, 1], affine[1, 1]))
            angle = float(np.degrees(np.arctan2(affine[1, 0], affine[0, 0])))
            transform = {
                "mirrored": mirrored,
                "rotation_deg": round(angle, 2),
                "scale_x": round(sx, 4),
                "scale_y": round(sy, 4),
            }
            rigid = misfit is None or misfit <= max_misfit
            extra = _zoom_evidence(na, nbm, native_affine)
            zoom_ok = extra is None or (not same_lesion and extra <= MAX_EXTRA_DETAIL)
            ok = inliers >= MIN_INLIERS and rigid and zoom_ok and containment >= MIN_CONTAINMENT
            if ok:
                reason = "derived copy: one affine map fits every part of the image" + (
                    f" to {misfit:.2f} px" if misfit is not None else ""
                )
            elif not rigid:
                reason = (
                    f"the same scene, but parts of it are {misfit:.2f} px off any single "
                    "affine map: a separate capture (skin, bubbles or hairs moved), not a copy"
                )
            elif not zoom_ok:
                reason = (
                    f"taken at a different zoom (the sharper image holds {extra:.1f}× the fine "
                    "detail the other could give it, and the other shows scene outside it): "
                    "a separate capture, not a copy"
                )
            else:
                reason = f"the images overlap only partly (containment {containment:.2f})"
            verdict = Verdict(
                ok,
                reason,
                inliers=inliers,
                misfit_px=None if misfit is None else round(misfit, 3),
                extra_detail=None if extra is None else round(extra, 3),
                patches=patches,
                containment=round(containment, 4),
                mirrored=mirrored,
                affine=np.round(affine, 5).tolist(),
                transform=transform,
            )
        if verdict.duplicate:
            return verdict
        if best is None or (verdict.inliers > best.inliers):
            best = verdict
    assert best is not None
    return best
