"""The duplicate groups the registry holds now, with the evidence for each pair."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.ingest.dedup.resolve import DuplicateGroup, Evidence
from dermset.registry.duplicate_tables import DuplicatePair
from dermset.registry.tables import Image


def list_groups(session: Session) -> list[DuplicateGroup]:
    """Every kept image with the images excluded as its duplicates, ordered by kept image."""
    excluded = session.execute(
        select(Image.id, Image.image_id, Image.duplicate_of, Image.pixel_sha256, Image.sha256)
        .where(Image.status == "duplicate", Image.duplicate_of.is_not(None))
        .order_by(Image.id)
    ).all()
    kept_pks = sorted({r.duplicate_of for r in excluded})
    kept: dict[int, tuple[str, str | None, str | None]] = {}
    for start in range(0, len(kept_pks), 1000):
        for pk, image_id, pix, sha in session.execute(
            select(Image.id, Image.image_id, Image.pixel_sha256, Image.sha256).where(
                Image.id.in_(kept_pks[start : start + 1000])
            )
        ):
            kept[pk] = (image_id, pix, sha)
    members: dict[int, list] = {}
    for r in excluded:
        members.setdefault(r.duplicate_of, []).append(r)
    all_pks = sorted(set(kept) | {r.id for r in excluded})
    names = {pk: kept[pk][0] for pk in kept} | {r.id: r.image_id for r in excluded}
    pairs: dict[tuple[int, int], DuplicatePair] = {}
    for start in range(0, len(all_pks), 500):
        chunk = all_pks[start : start + 500]
        for p in session.execute(
            select(DuplicatePair).where(
                DuplicatePair.verdict == "duplicate", DuplicatePair.image_a.in_(chunk)
            )
        ).scalars():
            pairs[(p.image_a, p.image_b)] = p
    groups = []
    for kpk in sorted(members, key=lambda k: names[k]):
        ids = {kpk} | {r.id for r in members[kpk]}
        evidence = [
            Evidence(
                a=names[a],
                b=names[b],
                kind=p.kind,
                hash_distance=p.hash_distance,
                inliers=p.inliers,
                score=p.score,
                transform=p.transform,
                reason=p.reason,
            )
            for (a, b), p in sorted(pairs.items())
            if a in ids and b in ids
        ]
        linked = {e.a for e in evidence} | {e.b for e in evidence}
        _, kpix, ksha = kept[kpk]
        for r in members[kpk]:
            same = (r.pixel_sha256 and r.pixel_sha256 == kpix) or (r.sha256 and r.sha256 == ksha)
            if r.image_id not in linked and same:
                evidence.append(
                    Evidence(
                        a=names[kpk],
                        b=r.image_id,
                        kind="exact",
                        hash_distance=0,
                        reason="identical pixels or file",
                    )
                )
        groups.append(
            DuplicateGroup(names[kpk], sorted(r.image_id for r in members[kpk]), evidence)
        )
    return groups
