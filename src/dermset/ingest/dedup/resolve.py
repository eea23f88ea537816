"""`resolve_duplicates`: find, verify, group and exclude the duplicates of newly ingested images.

Order of work (docs/dev/interfaces.md): exact duplicates by equal pixel or file hashes; near
candidates from the hash index over *all* fingerprinted images; each new candidate pair verified
once on pixels loaded from the store (verdicts are kept in ``duplicate_pair``); groups are the
connected duplicate pairs; the protocol's keep policy picks the kept image; every status change
is audited in the one transaction that writes it. Images that failed the SOP or were withdrawn
stay as they are; an image a curator split off a group is not merged again on the verdicts that
existed when they decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dermset.ingest.dedup.candidates import build_index, find_candidates
from dermset.ingest.dedup.groups import Member, UnionFind, choose_kept
from dermset.ingest.dedup.pixels import StoredPixels
from dermset.ingest.dedup.store import load_fingerprints
from dermset.ingest.dedup.verify import Verdict, verify_pair
from dermset.registry.duplicate_tables import DuplicatePair
from dermset.registry.project import Project
from dermset.registry.tables import AuditEvent, Image

#: statuses that take part in duplicate groups (a withdrawn image is left alone); an image that
#: failed the SOP is kept only when every copy failed it, and then stays ``sop_failed``
GROUPABLE = ("active", "duplicate", "sop_failed")


@dataclass
class Evidence:
    a: str
    b: str
    kind: str  # exact | near
    hash_distance: int | None = None
    inliers: int | None = None
    score: float | None = None
    transform: dict[str, Any] | None = None
    reason: str | None = None


@dataclass
class DuplicateGroup:
    kept: str
    excluded: list[str]
    evidence: list[Evidence] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.kept,
            "excluded": list(self.excluded),
            "evidence": [e.__dict__ for e in self.evidence],
        }


@dataclass
class DuplicateReport:
    groups: list[DuplicateGroup] = field(default_factory=list)
    #: images this call excluded as duplicates
    excluded: int = 0
    candidates: int = 0
    verified: int = 0
    rejected: int = 0


@dataclass
class _Row:
    pk: int
    image_id: str
    status: str
    duplicate_of: int | None
    sha256: str | None
    pixel_sha256: str | None
    quality_score: float | None
    lesion_id: int | None


def _rows(session: Session, pks: Iterable[int]) -> dict[int, _Row]:
    out: dict[int, _Row] = {}
    pks = sorted(set(pks))
    for start in range(0, len(pks), 1000):
        for r in session.execute(
            select(
                Image.id,
                Image.image_id,
                Image.status,
                Image.duplicate_of,
                Image.sha256,
                Image.pixel_sha256,
                Image.quality_score,
                Image.lesion_id,
            ).where(Image.id.in_(pks[start : start + 1000]))
        ):
            out[r[0]] = _Row(*r)
    return out


def _exact_pairs(session: Session, new: dict[int, _Row]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for col in (Image.pixel_sha256, Image.sha256):
        keys = sorted({getattr(r, col.key) for r in new.values()} - {None})
        for start in range(0, len(keys), 500):
            by_key: dict[str, list[int]] = {}
            for pk, key in session.execute(
                select(Image.id, col).where(col.in_(keys[start : start + 500]))
            ):
                by_key.setdefault(key, []).append(pk)
            for members in by_key.values():
                for x in members:
                    for y in members:
                        if x < y and (x in new or y in new):
                            pairs.add((x, y))
    return pairs


def _known_pairs(session: Session, pks: set[int]) -> dict[tuple[int, int], DuplicatePair]:
    out: dict[tuple[int, int], DuplicatePair] = {}
    ids = sorted(pks)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for p in session.execute(
            select(DuplicatePair).where(
                or_(DuplicatePair.image_a.in_(chunk), DuplicatePair.image_b.in_(chunk))
            )
        ).scalars():
            out[(p.image_a, p.image_b)] = p
    return out


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _splits(session: Session, image_ids: list[str]) -> dict[str, datetime]:
    """When a curator last split each image off a group (their decision overrides every
    verdict about that image that existed then)."""
    out: dict[str, datetime] = {}
    for start in range(0, len(image_ids), 500):
        for key, at in session.execute(
            select(AuditEvent.entity_key, AuditEvent.at).where(
                AuditEvent.entity == "image",
                AuditEvent.action == "duplicate_split",
                AuditEvent.entity_key.in_(image_ids[start : start + 500]),
            )
        ):
            out[key] = max(out.get(key, at), _naive_utc(at))
    return out


def resolve_duplicates(
    project: Project, *, actor: str, image_ids: Iterable[int] | None = None
) -> DuplicateReport:
    """Find and exclude the duplicates of *image_ids* (``Image.id``; default: every image)."""
    report = DuplicateReport()
    with project.db.read() as s:
        if image_ids is None:
            image_ids = list(s.execute(select(Image.id)).scalars())
        new = {pk: r for pk, r in _rows(s, image_ids).items() if r.status in GROUPABLE}
        if not new:
            return report
        exact = _exact_pairs(s, new)
        index, kinds = build_index(load_fingerprints(s))
        queries = list(load_fingerprints(s, new))
        cands = find_candidates(index, kinds, queries) if len(index) else []
        report.candidates = len(cands)
        involved = set(new) | {x for p in exact for x in p} | {x for c in cands for x in (c.a, c.b)}
        rows = _rows(s, involved)
        known = _known_pairs(s, set(new))
        pixels = StoredPixels(project, s, {x for c in cands for x in (c.a, c.b)})

    # verify outside any transaction: pixels are slow, the registry stays free for others
    verdicts: dict[tuple[int, int], tuple[str, Verdict | None, int | None]] = {}
    for a, b in sorted(exact):
        if (a, b) not in known:
            verdicts[(a, b)] = ("exact", None, 0)
    for c in cands:
        key = (c.a, c.b)
        if key in known or key in exact or key in verdicts:
            continue
        ra, rb = rows.get(c.a), rows.get(c.b)
        if ra is None or rb is None or ra.status not in GROUPABLE or rb.status not in GROUPABLE:
            continue
        # two images the registry links to one lesion are expected to be second captures:
        # a copy among them must be rigid to a stricter limit
        same_lesion = ra.lesion_id is not None and ra.lesion_id == rb.lesion_id
        pa, pb = pixels.get(c.a), pixels.get(c.b)
        if pa is None or pb is None:
            v = Verdict(False, "pixels could not be loaded from the store")
        else:
            v = verify_pair(pa, pb, mirrored_first=c.mirrored, same_lesion=same_lesion)
        report.verified += 1
        report.rejected += not v.duplicate
        verdicts[key] = ("near", v, c.distance)

    with project.db.session() as s:
        # another run may have recorded some of these pairs while we verified
        recorded = _known_pairs(s, {x for key in verdicts for x in key})
        for (a, b), (kind, v, dist) in verdicts.items():
            if (a, b) in recorded:
                continue
            s.add(
                DuplicatePair(
                    image_a=a,
                    image_b=b,
                    kind=kind,
                    verdict="duplicate" if v is None or v.duplicate else "distinct",
                    hash_distance=dist,
                    inliers=v.inliers if v else None,
                    score=v.misfit_px if v else None,
                    transform=(v.transform or None) if v else None,
                    reason=v.reason if v else "identical pixels or file",
                )
            )
        s.flush()
        _regroup(s, project, actor, set(new), report)
    return report


def _failed(img: Image) -> bool:
    return img.quality_verdict == "fail"


def _member(img: Image) -> Member:
    pixels = (img.width or 0) * (img.height or 0) or None
    status = "sop_failed" if _failed(img) else img.status
    return Member(img.id, img.quality_score, status, pixels, img.n_bytes, img.media_type)


def _one_per_pixels(imgs: list[Image]) -> list[Image]:
    """One image per set of identical pixels: the one the pipeline kept (identical images are
    the same photograph, so the choice between them stands)."""
    out: dict[str, Image] = {}
    single = []
    for img in sorted(imgs, key=lambda i: (i.status == "duplicate", i.id)):
        if img.pixel_sha256 is None:
            single.append(img)
        else:
            out.setdefault(img.pixel_sha256, img)
    return single + list(out.values())


def _regroup(
    s: Session, project: Project, actor: str, new: set[int], report: DuplicateReport
) -> None:
    """Group every image connected to *new* by duplicate pairs and apply the keep policy."""
    seen: set[int] = set()
    frontier = set(new)
    edges: dict[tuple[int, int], DuplicatePair] = {}
    while frontier:
        seen |= frontier
        found = _known_pairs(s, frontier)
        nxt: set[int] = set()
        for key, p in found.items():
            if p.verdict == "duplicate":
                edges[key] = p
                nxt |= {p.image_a, p.image_b}
        # images the pipeline recorded as exact duplicates of one another
        for pk, dup_of in s.execute(
            select(Image.id, Image.duplicate_of).where(
                or_(Image.id.in_(sorted(frontier)), Image.duplicate_of.in_(sorted(frontier)))
            )
        ):
            if dup_of is not None:
                nxt |= {pk, dup_of}
        frontier = nxt - seen
    rows = {
        img.id: img
        for img in s.execute(
            select(Image).where(Image.id.in_(sorted(seen))).with_for_update()
        ).scalars()
    }
    split = _splits(s, [r.image_id for r in rows.values()])
    uf = UnionFind()
    for (a, b), pair in edges.items():
        ra, rb = rows.get(a), rows.get(b)
        if ra is None or rb is None:
            continue
        verified = _naive_utc(pair.created_at)
        if any(r.image_id in split and split[r.image_id] >= verified for r in (ra, rb)):
            continue  # a curator split this image off after this verdict
        uf.union(a, b)
    for img in rows.values():
        if img.duplicate_of is not None and img.duplicate_of in rows and img.status == "duplicate":
            uf.union(img.id, img.duplicate_of)
    policy = project.protocol.duplicates.keep
    for members in uf.groups():
        imgs = [rows[m] for m in members if rows[m].status in GROUPABLE]
        if len(imgs) < 2:
            continue
        kept_pk = choose_kept([_member(i) for i in _one_per_pixels(imgs)], policy)
        kept = rows[kept_pk]
        if kept.status == "duplicate":
            before = (
                kept.status,
                rows[kept.duplicate_of].image_id if kept.duplicate_of in rows else None,
            )
            restored = "sop_failed" if _failed(kept) else "active"
            kept.status, kept.duplicate_of = restored, None
            project.audit.record(
                s,
                actor=actor,
                entity="image",
                key=kept.image_id,
                action="duplicate_keep",
                changes={
                    "status": (before[0], restored),
                    "duplicate_of": (before[1], None),
                    "policy": (None, policy),
                },
            )
        excluded = []
        for img in imgs:
            if img.id == kept_pk:
                continue
            excluded.append(img.image_id)
            if img.status == "duplicate" and img.duplicate_of == kept_pk:
                continue
            before_of = rows[img.duplicate_of].image_id if img.duplicate_of in rows else None
            before_status = img.status
            img.status, img.duplicate_of = "duplicate", kept_pk
            report.excluded += before_status != "duplicate"
            project.audit.record(
                s,
                actor=actor,
                entity="image",
                key=img.image_id,
                action="duplicate_exclude",
                changes={
                    "status": (before_status, "duplicate"),
                    "duplicate_of": (before_of, kept.image_id),
                    "policy": (None, policy),
                },
            )
        ids = {i.id for i in imgs}
        evidence = [
            Evidence(
                a=rows[a].image_id,
                b=rows[b].image_id,
                kind=p.kind,
                hash_distance=p.hash_distance,
                inliers=p.inliers,
                score=p.score,
                transform=p.transform,
                reason=p.reason,
            )
            for (a, b), p in sorted(edges.items())
            if a in ids and b in ids
        ]
        report.groups.append(DuplicateGroup(kept.image_id, sorted(excluded), evidence))
