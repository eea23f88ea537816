"""The duplicate search on the synthetic cohort (`dermset.synthetic`): a second engine-independent
source of truth. Every planted edited copy (re-encoded, resized, cropped, rotated by 90° and by a
few degrees, mirrored, brightened, colour-shifted) is excluded; every planted second capture of a
lesion (same visit or a follow-up) stays; no other photograph is excluded. Which member of a
group is kept is the keep policy's choice (an edited copy of equal quality may win)."""

from __future__ import annotations

from sqlalchemy import select

from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.pipeline import ingest_paths
from dermset.registry.tables import Image
from dermset.synthetic import generate_cohort


def test_planted_copies_found_and_second_captures_kept(project, tmp_path):
    cohort = generate_cohort(tmp_path / "cohort", size=80, seed=11)
    ingest_paths(
        project,
        [cohort.images_dir],
        metadata=cohort.metadata_csv,
        mapping=load_mapping("isic"),
        workers=1,
    )
    with project.db.read() as s:
        rows = {r.filename_hmac: r for r in s.execute(select(Image)).scalars()}
        s.expunge_all()

    def row(rec):
        return rows.get(project.keys.filename(rec["filename"]))

    near = cohort.by_role("near_duplicate")
    assert {r["kind"] for r in near} >= {"jpeg_reencode", "cropped", "rotated_90", "flipped"}
    groups = {tuple(sorted(g)) for g in cohort.duplicate_groups}
    assert {i for g in groups for i in g} >= {r["image"] for r in near}
    for group in groups:  # each planted group is one group in the registry, whichever is kept
        members = [row(cohort.image(i)) for i in group]
        kept = [m for m in members if m.status != "duplicate"]
        assert len(kept) == 1, group
        assert all(m.duplicate_of == kept[0].id for m in members if m is not kept[0]), group
    assert cohort.second_captures
    for first, second in cohort.second_captures:
        for image in (first, second):
            r = row(cohort.image(image))
            assert r is None or r.status != "duplicate", image
    in_groups = {i for g in groups for i in g}
    for rec in cohort.by_role("original"):
        if rec["image"] not in in_groups:
            assert row(rec).status != "duplicate", rec["image"]
