"""The dermatoscope's field of view and the lesion inside it, found on the small image.

A contact dermatoscope on a phone leaves a dark circular vignette around its field; many
devices fill the frame instead. The field is the part of the image that is not dark *and*
connected to the image border; without a vignette the field is the whole frame. The lesion is
the most prominent dark blob inside the field (Otsu's threshold on smoothed luminance, hair and
specks removed by a morphological opening), preferring blobs near the centre, as the SOP asks
the clinician to centre the lesion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: luminance (0-255) below which a pixel belongs to the vignette
DARK = 24
#: the vignette must cover at least this share of the frame to count as a field boundary
MIN_VIGNETTE = 0.04


@dataclass
class Field:
    mask: np.ndarray  # bool HxW
    centre: tuple[float, float]  # (x, y) in pixels of the small image
    radius: float  # equivalent-circle radius in pixels
    vignette: bool  # a circular field boundary was found (False: the field fills the frame)
    circularity: float  # field area / area of its enclosing circle (1: a disc)


@dataclass
class Lesion:
    mask: np.ndarray
    centre: tuple[float, float]
    area_fraction: float  # of the field
    offset: float  # centre distance from the field centre / field radius
    edge_contact: float  # share of the lesion outline on the field's or the frame's edge


def luminance(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def find_field(rgb: np.ndarray) -> Field:
    h, w = rgb.shape[:2]
    lum = luminance(rgb)
    dark = (lum < DARK).astype(np.uint8)
    n, labels = cv2.connectedComponents(dark, connectivity=8)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border != 0]
    lut = np.zeros(n, bool)
    lut[border] = True
    vignette = lut[labels]
    if vignette.mean() < MIN_VIGNETTE:
        mask = np.ones((h, w), bool)
        return Field(mask, (w / 2, h / 2), float(np.sqrt(h * w / np.pi)), False, 0.0)
    field = (~vignette).astype(np.uint8)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(field, connectivity=8)
    if n <= 1:
        mask = np.ones((h, w), bool)
        return Field(mask, (w / 2, h / 2), float(np.sqrt(h * w / np.pi)), False, 0.0)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = labels == k
    area = float(stats[k, cv2.CC_STAT_AREA])
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    (_, _), r_enc = cv2.minEnclosingCircle(max(contours, key=cv2.contourArea))
    circ = area / (np.pi * r_enc**2) if r_enc > 0 else 0.0
    cx, cy = cents[k]
    return Field(mask, (float(cx), float(cy)), float(np.sqrt(area / np.pi)), True, float(circ))


def find_lesion(rgb: np.ndarray, field: Field) -> Lesion | None:
    h, w = rgb.shape[:2]
    lum = cv2.GaussianBlur(luminance(rgb), (0, 0), max(1.0, min(h, w) / 128))
    inner = cv2.erode(field.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    values = lum[inner]
    if values.size < 100 or values.max() - values.min() < 12:
        return None
    thr, _ = cv2.threshold(values.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = ((lum <= thr) & inner).astype(np.uint8)
    k = max(3, min(h, w) // 40) | 1
    dark = cv2.morphologyEx(
        dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    )
    dark = cv2.morphologyEx(
        dark, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    )
    n, labels, stats, cents = cv2.connectedComponentsWithStats(dark, connectivity=8)
    if n <= 1:
        return None
    field_area = float(field.mask.sum())
    fx, fy = field.centre
    best, best_score = 0, 0.0
    for i in range(1, n):
        area = float(stats[i, cv2.CC_STAT_AREA])
        if area < 0.002 * field_area:
            continue
        d = np.hypot(cents[i][0] - fx, cents[i][1] - fy) / field.radius
        score = area * (1.0 - 0.6 * min(d, 1.0))
        if score > best_score:
            best, best_score = i, score
    if best == 0:
        return None
    mask = labels == best
    cx, cy = cents[best]
    offset = float(np.hypot(cx - fx, cy - fy) / field.radius)
    # outline pixels touching the field's edge (or the frame's when there is no vignette)
    outline = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    edge_zone = ~cv2.erode(field.mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    edge_zone[:4, :] = edge_zone[-4:, :] = True
    edge_zone[:, :4] = edge_zone[:, -4:] = True
    contact = float((outline & edge_zone).sum() / max(1, outline.sum()))
    return Lesion(mask, (float(cx), float(cy)), float(mask.sum() / field_area), offset, contact)
