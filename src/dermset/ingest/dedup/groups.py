"""Duplicate groups (union-find over confirmed pairs) and the protocol's keep policy."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


class UnionFind:
    """Disjoint sets over arbitrary hashable ids (path halving, union by size)."""

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self._size: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self._parent
        if x not in parent:
            parent[x], self._size[x] = x, 1
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]

    def groups(self) -> list[list[int]]:
        """Every set with more than one member, members sorted, sets by smallest member."""
        out: dict[int, list[int]] = {}
        for x in self._parent:
            out.setdefault(self.find(x), []).append(x)
        return sorted((sorted(g) for g in out.values() if len(g) > 1), key=lambda g: g[0])


def components(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """The connected groups of a set of duplicate pairs.

    >>> components([(1, 2), (3, 4), (2, 5)])
    [[1, 2, 5], [3, 4]]
    """
    uf = UnionFind()
    for a, b in pairs:
        uf.union(a, b)
    return uf.groups()


@dataclass(frozen=True)
class Member:
    """What the keep policy needs to know of an image (pk order = ingest order)."""

    pk: int
    quality_score: float | None
    status: str
    pixels: int | None = None
    n_bytes: int | None = None
    media_type: str | None = None


def choose_kept(members: Iterable[Member], policy: str) -> int:
    """The image a group keeps.

    ``best_quality``: the highest ``quality_score`` (unscored images rank last). The SOP score
    saturates for good captures, so ties go to the image with more pixels; then, when the tied
    images are all JPEGs, to the less compressed one (more stored bytes per pixel: a re-encoded
    copy is usually smaller); then to the first ingested. ``first_ingested``: the first
    ingested. Images that failed the SOP are kept only when no member passed it.

    >>> choose_kept([Member(1, 0.4, "active"), Member(2, 0.9, "duplicate")], "best_quality")
    2
    >>> choose_kept([Member(1, 0.9, "active", 10**6, 5 * 10**4, "image/jpeg"),
    ...              Member(2, 0.9, "active", 10**6, 2 * 10**5, "image/jpeg")], "best_quality")
    2
    >>> choose_kept([Member(1, 0.4, "active"), Member(2, 0.9, "duplicate")], "first_ingested")
    1
    """
    pool = list(members)
    if not pool:
        raise ValueError("a group needs at least one member")
    eligible = [m for m in pool if m.status != "sop_failed"] or pool
    if policy == "first_ingested":
        return min(m.pk for m in eligible)
    if policy == "best_quality":

        def tier(m: Member) -> tuple[float, int]:
            q = m.quality_score
            score = q if q is not None and not math.isnan(q) else -math.inf
            return (round(score, 3), m.pixels or 0)

        top = max(tier(m) for m in eligible)
        tied = [m for m in eligible if tier(m) == top]
        if len(tied) > 1 and all(m.media_type == "image/jpeg" and m.pixels for m in tied):
            return min(tied, key=lambda m: (-round((m.n_bytes or 0) / m.pixels, 2), m.pk)).pk
        return min(m.pk for m in tied)
    raise ValueError(f"unknown keep policy {policy!r}")
