"""Real images and the derived copies the duplicate tests make of them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from conftest import IMAGES

UDA = IMAGES / "isic_uda1"
HAM = IMAGES / "ham10000_artefact_insertion" / "artefact_sources"
KINDS = ("reencode", "resize", "crop", "rot90", "flip", "brightness", "colour", "slight_rotation")


def load(path: Path | bytes, side: int = 1024) -> Image.Image:
    im = Image.open(io.BytesIO(path) if isinstance(path, bytes) else path)
    im.draft("RGB", (side, side))
    im = im.convert("RGB")
    im.thumbnail((side, side))
    return im


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def copy_of(im: Image.Image, kind: str) -> bytes:
    """A copy derived from *im* (deterministic, the milder end of the benchmark's ranges)."""
    w, h = im.size
    if kind == "reencode":
        return jpeg(im, 60)
    if kind == "resize":
        return jpeg(im.resize((round(w * 0.4), round(h * 0.45)), Image.BILINEAR))
    if kind == "crop":
        return jpeg(im.crop((round(w * 0.12), round(h * 0.03), round(w * 0.97), round(h * 0.88))))
    if kind == "rot90":
        return jpeg(im.transpose(Image.Transpose.ROTATE_90))
    if kind == "flip":
        return jpeg(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    if kind == "brightness":
        return jpeg(ImageEnhance.Brightness(im).enhance(1.25))
    if kind == "colour":
        a = np.asarray(im).astype(np.float32) * np.array([1.1, 1.0, 0.9], np.float32)
        return jpeg(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)))
    if kind == "slight_rotation":
        return jpeg(im.rotate(4, resample=Image.BILINEAR))
    raise ValueError(kind)


def reduced(im: Image.Image | np.ndarray, side: int = 512) -> np.ndarray:
    """The pipeline's reduced decode (longest side 512)."""
    im = im.copy() if isinstance(im, Image.Image) else Image.fromarray(im)
    im.thumbnail((side, side))
    return np.asarray(im)
