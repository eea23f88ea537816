"""A non-quadratic index over 63-bit hashes: multi-index hashing (Norouzi, Punjani & Fleet 2012).

Each hash is cut into three 21-bit substrings, each with its own bucket table (a counting sort:
an offsets array over all 2**21 keys and the hash ids in key order). Two hashes within Hamming
distance r ≤ 5 agree to within one bit on at least one substring (pigeonhole: 3 × 2 > 5), so a
query probes 3 × 22 buckets and checks only the hashes it finds there: the work per query grows
with the bucket occupancy (N / 2**21), not with N. The probing and checking loops are compiled
with numba because the same loops in numpy cost ~10× more (measured in
benchmarks/bench_hash_search.py); each candidate is reported once (at the first substring that
finds it) without a hash set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

SUB_BITS = 21
N_SUB = 3
#: the largest radius the three-substring index answers exactly
MAX_RADIUS = 2 * N_SUB - 1
_SUB_MASK = np.uint64((1 << SUB_BITS) - 1)


@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def _build(hashes):
    n = hashes.shape[0]
    size = 1 << 21
    offsets = np.zeros((3, size + 1), dtype=np.int32)
    order = np.empty((3, n), dtype=np.int32)
    mask = np.uint64(size - 1)
    for s in range(3):
        shift = np.uint64(21 * s)
        for i in range(n):
            offsets[s, ((hashes[i] >> shift) & mask) + 1] += 1
        for k in range(size):
            offsets[s, k + 1] += offsets[s, k]
        fill = offsets[s, :size].copy()
        for i in range(n):
            key = (hashes[i] >> shift) & mask
            order[s, fill[key]] = i
            fill[key] += 1
    return offsets, order


@njit(cache=True)
def _search(hashes, owners, offsets, order, queries, qowners, radius):
    cap = max(16, queries.shape[0])
    out_q = np.empty(cap, dtype=np.int64)
    out_h = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap, dtype=np.int8)
    n_out = 0
    mask = np.uint64((1 << 21) - 1)
    for qi in range(queries.shape[0]):
        q = queries[qi]
        qo = qowners[qi]
        for s in range(3):
            shift = np.uint64(21 * s)
            key = (q >> shift) & mask
            for flip in range(22):
                probe = key if flip == 21 else key ^ np.uint64(1 << flip)
                for p in range(offsets[s, probe], offsets[s, probe + 1]):
                    hi = order[s, p]
                    if owners[hi] == qo:
                        continue
                    x = q ^ hashes[hi]
                    d = _popcount(x)
                    if d > radius:
                        continue
                    # report once: skip if an earlier substring would have found it
                    seen = False
                    for t in range(s):
                        if _popcount((x >> np.uint64(21 * t)) & mask) <= 1:
                            seen = True
                            break
                    if seen:
                        continue
                    if n_out == cap:
                        cap *= 2
                        nq = np.empty(cap, dtype=np.int64)
                        nh = np.empty(cap, dtype=np.int64)
                        nd = np.empty(cap, dtype=np.int8)
                        nq[:n_out] = out_q[:n_out]
                        nh[:n_out] = out_h[:n_out]
                        nd[:n_out] = out_d[:n_out]
                        out_q, out_h, out_d = nq, nh, nd
                    out_q[n_out] = qi
                    out_h[n_out] = hi
                    out_d[n_out] = d
                    n_out += 1
    return out_q[:n_out], out_h[:n_out], out_d[:n_out]


@dataclass(frozen=True)
class Matches:
    """Query position, indexed hash position and Hamming distance of every match."""

    query: np.ndarray
    hash: np.ndarray
    distance: np.ndarray


class HashIndex:
    """Exact radius search (r ≤ 5) over up to millions of 63-bit hashes.

    >>> idx = HashIndex(np.array([0b1011, 1 << 40], dtype=np.uint64), owners=np.array([7, 8]))
    >>> m = idx.search(np.array([0b0011], dtype=np.uint64), np.array([9]), radius=2)
    >>> m.hash.tolist(), m.distance.tolist()
    ([0], [1])
    """

    def __init__(self, hashes: np.ndarray, owners: np.ndarray):
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self.owners = np.ascontiguousarray(owners, dtype=np.int64)
        if self.hashes.shape != self.owners.shape:
            raise ValueError("hashes and owners must have the same length")
        if len(self.hashes) >= 2**31:
            raise ValueError("the index holds at most 2**31 hashes")
        self._offsets, self._order = _build(self.hashes)

    def __len__(self) -> int:
        return len(self.hashes)

    def search(self, queries: np.ndarray, query_owners: np.ndarray, radius: int) -> Matches:
        """Every (query, hash) within *radius*, except hashes of the query's own owner."""
        if not 0 <= radius <= MAX_RADIUS:
            raise ValueError(f"radius must be between 0 and {MAX_RADIUS}")
        q, h, d = _search(
            self.hashes,
            self.owners,
            self._offsets,
            self._order,
            np.ascontiguousarray(queries, dtype=np.uint64),
            np.ascontiguousarray(query_owners, dtype=np.int64),
            radius,
        )
        return Matches(q, h, d.astype(np.int64))
