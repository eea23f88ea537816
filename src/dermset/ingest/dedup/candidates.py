"""Candidate pairs from fingerprints: every image pair with a hash within the threshold.

All hashes of all images go into one :class:`HashIndex` (identity orientation only); the query
side carries the symmetric copies (8 for global hashes, 2 for local ones), so a rotated or
mirrored copy meets its original's stored hash. A global hash only counts against a global one,
a local against a local.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from dermset.ingest.dedup.fingerprint import Fingerprint, dihedral_variants, mirror_variants
from dermset.ingest.dedup.index import HashIndex

#: Hamming distance (of 63 bits) below which two images become a candidate pair
THRESHOLD = 5

GLOBAL, LOCAL = 0, 1


@dataclass(frozen=True)
class Candidate:
    a: int
    b: int
    distance: int
    #: the symmetry that made the match: a D4 name index for global hashes, 0/1 (mirror) local
    kind: int
    variant: int

    @property
    def mirrored(self) -> bool:
        """Whether the match suggests one image is a mirror image of the other."""
        if self.kind == LOCAL:
            return self.variant == 1
        return self.variant in (1, 2, 4, 7)  # flip_ud, flip_lr, transpose, anti-transpose


def _flatten(fps: Iterable[tuple[int, Fingerprint]]):
    hashes, owners, kinds = [], [], []
    for pk, fp in fps:
        hashes += [fp.global_hashes, fp.local_hashes]
        owners += [np.full(len(fp.global_hashes), pk), np.full(len(fp.local_hashes), pk)]
        kinds += [np.full(len(fp.global_hashes), GLOBAL), np.full(len(fp.local_hashes), LOCAL)]
    if not hashes:
        return (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int8))
    return (
        np.concatenate(hashes).astype(np.uint64),
        np.concatenate(owners).astype(np.int64),
        np.concatenate(kinds).astype(np.int8),
    )


def build_index(fps: Iterable[tuple[int, Fingerprint]]) -> tuple[HashIndex, np.ndarray]:
    """The index over every hash of *fps*, and each hash's kind."""
    hashes, owners, kinds = _flatten(fps)
    return HashIndex(hashes, owners), kinds


def query_arrays(hashes: np.ndarray, owners: np.ndarray, kinds: np.ndarray):
    """Every symmetric copy of each hash: (hashes, owners, kinds, variant numbers)."""
    g, lo = kinds == GLOBAL, kinds == LOCAL
    gv = dihedral_variants(hashes[g])  # (8, n)
    lv = mirror_variants(hashes[lo])  # (2, n)
    q = np.concatenate([gv.ravel(), lv.ravel()])
    qo = np.concatenate([np.tile(owners[g], 8), np.tile(owners[lo], 2)])
    qk = np.concatenate([np.full(gv.size, GLOBAL), np.full(lv.size, LOCAL)]).astype(np.int8)
    qv = np.concatenate(
        [np.repeat(np.arange(8), g.sum()), np.repeat(np.arange(2), lo.sum())]
    ).astype(np.int8)
    return q, qo, qk, qv


def find_candidates(
    index: HashIndex,
    kinds: np.ndarray,
    queries: Iterable[tuple[int, Fingerprint]],
    threshold: int = THRESHOLD,
) -> list[Candidate]:
    """Image pairs (a < b) between *queries* and the index within *threshold*, closest match
    per pair."""
    qh, qo, qk = _flatten(queries)
    q, owners, qkinds, variants = query_arrays(qh, qo, qk)
    m = index.search(q, owners, threshold)
    same_kind = qkinds[m.query] == kinds[m.hash]
    qi, hi, dist = m.query[same_kind], m.hash[same_kind], m.distance[same_kind]
    a = owners[qi]
    b = index.owners[hi]
    best: dict[tuple[int, int], Candidate] = {}
    for ai, bi, d, k, v in zip(
        a.tolist(),
        b.tolist(),
        dist.tolist(),
        qkinds[qi].tolist(),
        variants[qi].tolist(),
        strict=True,
    ):
        key = (ai, bi) if ai < bi else (bi, ai)
        old = best.get(key)
        if old is None or d < old.distance:
            best[key] = Candidate(key[0], key[1], d, k, v)
    return sorted(best.values(), key=lambda c: (c.a, c.b))


def self_join(hashes: np.ndarray, owners: np.ndarray, kinds: np.ndarray, threshold: int):
    """All pairs of hashes of different owners within *threshold* (the benchmark's workload):
    returns (query positions into the variant arrays, hash positions, distances)."""
    index = HashIndex(hashes, owners)
    q, qo, qk, _ = query_arrays(hashes, owners, kinds)
    m = index.search(q, qo, threshold)
    keep = qk[m.query] == kinds[m.hash]
    return m.query[keep], m.hash[keep], m.distance[keep], index
