"""Pair verification on pixels: is one image a copy derived from the other?

A perceptual-hash match only says two images look alike; dermoscopy images of different lesions
on similar skin often do. A pair is confirmed as a duplicate when

1. local features (ORB) of one image map onto the other by one affine transform (RANSAC), which
   covers resizing (also with a changed aspect ratio), crops, 90° and slight rotations; a mirrored
   copy is tried by mirroring one image first (ORB is rotation- but not mirror-invariant); and
2. after warping the sharper image into the other's frame, their *fine detail* agrees: the
   correlation of the band-pass residuals (image minus its Gaussian blur) inside the overlap
   is high. A derived copy shares the capture's sensor noise, hairs, bubbles and specular
   highlights pixel for pixel; a second capture of the same lesion, even one shifted by a few
   pixels with the same bubbles in view (HAM10000 ISIC_0024688 / ISIC_0026352), has new noise,
   moved bubbles and a slightly different perspective, so its residuals do not correlate.
   Brightness and colour shifts do not matter: residuals are compared by correlation.

Thresholds were calibrated on the real images (docs/duplicates.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from functools import cache

import cv2
import numpy as np

#: images are compared with their longest side at most this many pixels
WORK_SIDE = 512
#: smaller images are upscaled to this for feature detection
MIN_SIDE = 320
MIN_INLIERS = 12
#: fine-detail agreement required. Measured (docs/duplicates.md), it does not yet separate
#: copies from near-identical second captures (both span 0.0-1.0), so it is recorded as evidence
#: and not used to decide; same-lesion second captures are told apart by their lesion link.
MIN_DETAIL_CORRELATION = -1.0
#: one image must lie (almost) inside the other
MIN_CONTAINMENT = 0.6
_DETAIL_SIGMA = 1.5


@dataclass
class Verdict:
    """The outcome of verifying one candidate pair."""

    duplicate: bool
    reason: str
    inliers: int = 0
    detail_correlation: float | None = None
    containment: float | None = None
    mirrored: bool = False
    #: affine map from the second image's pixels to the first's (2×3), when one was found
    affine: list[list[float]] | None = None
    transform: dict[str, float | bool] = field(default_factory=dict)

    def evidence(self) -> dict:
        return asdict(self)


@cache
def _orb() -> cv2.ORB:
    return cv2.ORB_create(nfeatures=1500, fastThreshold=10)


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


def _detail(g: np.ndarray) -> np.ndarray:
    g = g.astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), _DETAIL_SIGMA)


def _compare(ga: np.ndarray, gb: np.ndarray, affine: np.ndarray) -> tuple[float, float]:
    """Detail correlation and containment, in the native frame of the less detailed image.

    The RANSAC affine is refined by ECC (sub-pixel), since fine detail decorrelates with any
    residual misregistration.
    """
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
    warp = np.linalg.inv(fwd)[:2].astype(np.float32)  # dst pixel -> src pixel
    with contextlib.suppress(cv2.error):  # on failure keep the RANSAC estimate
        _, warp = cv2.findTransformECC(
            cv2.GaussianBlur(dst, (0, 0), 1.0),
            cv2.GaussianBlur(src, (0, 0), 1.0),
            warp,
            cv2.MOTION_AFFINE,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-4),
            None,
            3,
        )
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(src, warp, (w, h), flags=flags, borderValue=0)
    valid = cv2.warpAffine(
        np.ones(src.shape, np.uint8), warp, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    )
    valid = cv2.erode(valid, np.ones((7, 7), np.uint8)).astype(bool)
    area_src_in_dst = src.shape[0] * src.shape[1] / max(1e-9, abs(np.linalg.det(warp[:, :2])))
    overlap = float(valid.sum())
    containment = overlap / max(1.0, min(h * w, area_src_in_dst))
    if overlap < 400:
        return 0.0, containment
    da = _detail(warped)[valid]
    db = _detail(dst)[valid]
    da = da - da.mean()
    db = db - db.mean()
    denom = float(np.sqrt((da * da).sum() * (db * db).sum()))
    corr = float((da * db).sum() / denom) if denom > 0 else 0.0
    return corr, min(1.0, containment)


def verify_pair(a: np.ndarray, b: np.ndarray, *, mirrored_first: bool = False) -> Verdict:
    """Decide whether *b* is a copy derived from *a* (or the reverse) from their pixels."""
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
            corr, containment = _compare(na, nbm, native_affine)
            sx = float(np.hypot(affine[0, 0], affine[1, 0]))
            sy = float(np.hypot(affine[0, 1], affine[1, 1]))
            angle = float(np.degrees(np.arctan2(affine[1, 0], affine[0, 0])))
            transform = {
                "mirrored": mirrored,
                "rotation_deg": round(angle, 2),
                "scale_x": round(sx, 4),
                "scale_y": round(sy, 4),
            }
            ok = (
                inliers >= MIN_INLIERS
                and corr >= MIN_DETAIL_CORRELATION
                and (containment >= MIN_CONTAINMENT)
            )
            if ok:
                reason = "derived copy: geometry and fine detail agree"
            elif corr < MIN_DETAIL_CORRELATION:
                reason = (
                    f"same scene geometry but different fine detail (correlation "
                    f"{corr:.2f}): a separate capture, not a copy"
                )
            else:
                reason = f"images overlap only partly (containment {containment:.2f})"
            verdict = Verdict(
                ok,
                reason,
                inliers=inliers,
                detail_correlation=round(corr, 4),
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
