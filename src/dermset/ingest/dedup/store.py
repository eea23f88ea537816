"""Fingerprint persistence: one row per image, written in the image record's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.ingest.dedup.fingerprint import VERSION, Fingerprint
from dermset.registry.duplicate_tables import ImageFingerprint


def store_fingerprint(session: Session, image_pk: int, fp: Fingerprint | None) -> None:
    """Record (or replace) the fingerprint of image *image_pk* in the caller's transaction."""
    if fp is None:
        return
    row = session.get(ImageFingerprint, image_pk)
    if row is None:
        session.add(ImageFingerprint(image_id=image_pk, version=VERSION, data=fp.to_bytes()))
    else:
        row.version, row.data = VERSION, fp.to_bytes()


def load_fingerprints(
    session: Session, image_pks: Iterable[int] | None = None
) -> Iterator[tuple[int, Fingerprint]]:
    """(image pk, fingerprint) of the given images, or of every image with one."""
    q = select(ImageFingerprint.image_id, ImageFingerprint.data).where(
        ImageFingerprint.version == VERSION
    )
    if image_pks is None:
        rows = session.execute(
            q.order_by(ImageFingerprint.image_id).execution_options(yield_per=5000)
        )
        for pk, data in rows:
            yield pk, Fingerprint.from_bytes(data)
        return
    pks = list(image_pks)
    for start in range(0, len(pks), 1000):
        for pk, data in session.execute(
            q.where(ImageFingerprint.image_id.in_(pks[start : start + 1000]))
        ):
            yield pk, Fingerprint.from_bytes(data)
