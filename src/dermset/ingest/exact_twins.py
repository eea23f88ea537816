"""Exact duplicates across formats: the same decoded pixels saved as JPEG and as PNG or TIFF.

A JPEG's pixel key comes from its coded data (no full decode); a PNG's from its pixels. Files
with equal keys are exact duplicates outright; a JPEG and its lossless re-save in another format
are found here, by size and pixel mean (indexed) and then confirmed on fully decoded pixels.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.ingest.decode import open_stored, pixel_key
from dermset.ingest.prepare import Prepared
from dermset.registry.store import ContentStore
from dermset.registry.tables import Acquisition, Image

#: pixel means (0-255) of a JPEG and its lossless re-save agree far closer than this
TWIN_MEAN_TOLERANCE = 1.0


def first_by_pixel_key(s: Session, keys: set[str]) -> dict[str, Image]:
    """For each pixel key, the first recorded image with it (following duplicate_of)."""
    found: dict[str, Image] = {}
    if not keys:
        return found
    for img in s.execute(
        select(Image)
        .where(Image.pixel_sha256.in_(keys), Image.sha256.is_not(None))
        .order_by(Image.id)
    ).scalars():
        if img.pixel_sha256 in found:
            continue
        if img.duplicate_of is not None:
            img = s.get(Image, img.duplicate_of) or img
        found[img.pixel_sha256] = img
    return found

def lossless_twin(
    s: Session, store: ContentStore, prep: Prepared, fresh: list[Prepared]
) -> str | None:
    """The pixel key of an image with the same decoded pixels in another format, if any.

    A JPEG's pixel key comes from its coded data (no full decode), a PNG's from its pixels,
    so a JPEG saved losslessly as PNG needs this second look. Candidates have the same size
    and pixel mean (indexed), and the other kind of file; each is confirmed by decoding the
    JPEG in full and hashing its pixels, which happens only for such candidates.
    """
    if prep.pixel_mean is None or prep.width is None:
        return None
    is_jpeg = prep.media_type == "image/jpeg"
    lo, hi = prep.pixel_mean - TWIN_MEAN_TOLERANCE, prep.pixel_mean + TWIN_MEAN_TOLERANCE
    kind = Image.media_type != "image/jpeg" if is_jpeg else Image.media_type == "image/jpeg"
    rows = s.execute(
        select(Image.sha256, Image.pixel_sha256, Image.media_type, Acquisition.orientation)
        .join(Acquisition, Acquisition.image_id == Image.id)
        .where(
            Image.width == prep.width,
            Image.height == prep.height,
            Image.pixel_mean.between(lo, hi),
            Image.duplicate_of.is_(None),
            Image.sha256.is_not(None),
            kind,
        )
        .limit(5)
    ).all()
    candidates = [
        (None, r.pixel_sha256, r.media_type, r.orientation, r.sha256) for r in rows
    ] + [
        (p.data, p.pixel_sha256, p.media_type, p.orientation, None)
        for p in fresh
        if (p.width, p.height) == (prep.width, prep.height)
        and (p.media_type == "image/jpeg") != is_jpeg
        and p.pixel_mean is not None
        and lo <= p.pixel_mean <= hi
    ]
    if not candidates:
        return None
    mine = decoded_key(prep.data, prep.orientation) if is_jpeg else prep.pixel_sha256
    for data, key, media, orientation, sha in candidates:
        if media != "image/jpeg":
            theirs = key
        else:
            blob = data if data is not None else store.get(sha)
            theirs = decoded_key(blob, orientation or 1)
        if theirs == mine:
            return key
    return None


def decoded_key(data: bytes | None, orientation: int) -> str | None:
    """Pixel key of a stored file decoded in full, as displayed (see decode.pixel_key)."""
    if data is None:
        return None
    return pixel_key(open_stored(data, orientation))
