"""Duplicate search: perceptual fingerprints, a hash index, pixel verification, groups.

See docs/duplicates.md; the contract with the ingest pipeline is in docs/dev/interfaces.md.
"""

from dermset.ingest.dedup.fingerprint import Fingerprint, fingerprint_image
from dermset.ingest.dedup.resolve import (
    DuplicateGroup,
    DuplicateReport,
    Evidence,
    resolve_duplicates,
)
from dermset.ingest.dedup.store import load_fingerprints, store_fingerprint

__all__ = [
    "DuplicateGroup",
    "DuplicateReport",
    "Evidence",
    "Fingerprint",
    "fingerprint_image",
    "load_fingerprints",
    "resolve_duplicates",
    "store_fingerprint",
]
