"""Stored images as verification sees them: decoded at reduced size, oriented, a few at a time."""

from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import Acquisition, Image

#: verification decodes stored files at this size (JPEG DCT-domain reduction); it compares at
#: 512 px (verify.WORK_SIDE)
LOAD_SIDE = 512

_TRANSPOSE = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}


def load_pixels(data: bytes, orientation: int | None) -> np.ndarray:
    """A stored file as displayed, as RGB, decoded at reduced size where the format allows."""
    if data[4:8] == b"ftyp":
        from dermset.ingest.decode import open_stored

        im = open_stored(data, orientation)
    else:
        im = PILImage.open(io.BytesIO(data))
        im.draft("RGB", (LOAD_SIDE, LOAD_SIDE))
        im.load()
        if orientation in _TRANSPOSE:
            im = im.transpose(_TRANSPOSE[orientation])
    im = im.convert("RGB")
    im.thumbnail((LOAD_SIDE, LOAD_SIDE))
    return np.asarray(im)


class StoredPixels:
    """Stored images decoded on demand for verification; the last few stay decoded (candidates
    come sorted, so an image's pairs are adjacent) and memory stays flat however many."""

    KEEP = 16

    def __init__(self, project: Project, session: Session, pks: set[int]):
        self.project = project
        self.meta: dict[int, tuple[str | None, int | None]] = {}
        ids = sorted(pks)
        for start in range(0, len(ids), 1000):
            for pk, sha, orient in session.execute(
                select(Image.id, Image.sha256, Acquisition.orientation)
                .outerjoin(Acquisition, Acquisition.image_id == Image.id)
                .where(Image.id.in_(ids[start : start + 1000]))
            ):
                self.meta[pk] = (sha, orient)
        self.cache: OrderedDict[int, np.ndarray | None] = OrderedDict()

    def get(self, pk: int) -> np.ndarray | None:
        if pk in self.cache:
            self.cache.move_to_end(pk)
            return self.cache[pk]
        sha, orient = self.meta.get(pk, (None, None))
        try:
            pixels = load_pixels(self.project.store.get(sha), orient) if sha else None
        except Exception:  # a missing or unreadable file: cannot be verified
            pixels = None
        self.cache[pk] = pixels
        if len(self.cache) > self.KEEP:
            self.cache.popitem(last=False)
        return pixels
