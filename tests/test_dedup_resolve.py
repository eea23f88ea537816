"""resolve_duplicates on a real project (SQLite and PostgreSQL), through the real ingest.

A batch holds one original with four copies made from it, a real third-party 180×180 copy of
another original, an unrelated original, and the HAM10000 pair ISIC_0024688 / ISIC_0026352:
two captures of one lesion, shifted by a few pixels with the same bubbles. Copies are grouped
with their originals and excluded, each exclusion audited; the second capture stays.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cli_helpers import dermset
from dedup_helpers import HAM, UDA, copy_of, load
from dermset.ingest.dedup import resolve_duplicates
from dermset.ingest.dedup.groups import Member, choose_kept, components
from dermset.ingest.pipeline import ingest_paths
from dermset.registry.duplicate_tables import DuplicatePair, ImageFingerprint
from dermset.registry.tables import AuditEvent, Image

COPIES = ("crop", "flip", "slight_rotation", "brightness")


@pytest.fixture
def batch(tmp_path, shared_data):
    d = tmp_path / "batch"
    d.mkdir()
    (d / "orig.jpg").write_bytes((UDA / "ISIC_0000019.jpg").read_bytes())
    im = load(UDA / "ISIC_0000019.jpg")
    for kind in COPIES:
        (d / f"copy_{kind}.jpg").write_bytes(copy_of(im, kind))
    (d / "second.jpg").write_bytes((UDA / "ISIC_0000002.jpg").read_bytes())
    small = UDA.parent / "near_duplicates" / "amit_resized180" / "ISIC_0000002.jpg"
    (d / "second_180.jpg").write_bytes(small.read_bytes())
    (d / "unrelated.jpg").write_bytes((UDA / "ISIC_0000187.jpg").read_bytes())
    (d / "ham_a.jpg").write_bytes((HAM / "ISIC_0024688.jpg").read_bytes())
    (d / "ham_b.jpg").write_bytes((HAM / "ISIC_0026352.jpg").read_bytes())
    return d


def _by_name(project) -> dict[str, Image]:
    names = [
        "orig.jpg",
        *(f"copy_{k}.jpg" for k in COPIES),
        "second.jpg",
        "second_180.jpg",
        "unrelated.jpg",
        "ham_a.jpg",
        "ham_b.jpg",
    ]
    with project.db.read() as s:
        rows = {r.filename_hmac: r for r in s.execute(select(Image)).scalars()}
        s.expunge_all()
    return {n: rows[project.keys.filename(n)] for n in names}


def test_copies_are_grouped_excluded_and_audited(any_project, batch, monkeypatch):
    project = any_project
    monkeypatch.setenv("DERMSET_DATABASE_URL", project.db.url)
    summary = ingest_paths(project, [batch], workers=1)
    rows = _by_name(project)
    family = ["orig.jpg", *(f"copy_{k}.jpg" for k in COPIES)]

    # one group per capture: the keep policy (best quality, ties to the first) picks the kept
    fam = [rows[n] for n in family]
    eligible = [r for r in fam if r.quality_verdict != "fail"] or fam
    best = max(eligible, key=lambda r: (r.quality_score or -1, -r.id))
    for r in fam:
        if r.id == best.id:
            assert r.status == "active" and r.duplicate_of is None
        else:
            assert r.status == "duplicate" and r.duplicate_of == best.id, r
    assert rows["second_180.jpg"].status == "duplicate"
    assert rows["second_180.jpg"].duplicate_of == rows["second.jpg"].id
    # an unrelated image and a second capture of one lesion are not duplicates
    for n in ("unrelated.jpg", "ham_a.jpg", "ham_b.jpg", "second.jpg"):
        assert rows[n].status in ("active", "sop_failed") and rows[n].duplicate_of is None, n
    assert summary.duplicates_excluded == 5

    with project.db.read() as s:
        pairs = list(s.execute(select(DuplicatePair)).scalars())
        ham = {rows["ham_a.jpg"].id, rows["ham_b.jpg"].id}
        ham_pair = [p for p in pairs if {p.image_a, p.image_b} == ham]
        # the pair was a candidate and the pixels said no, with the reason recorded
        assert ham_pair and ham_pair[0].verdict == "distinct"
        assert "separate capture" in ham_pair[0].reason
        assert s.execute(select(ImageFingerprint)).first() is not None
        events = list(
            s.execute(select(AuditEvent).where(AuditEvent.action == "duplicate_exclude")).scalars()
        )
        excluded = {r.image_id for r in rows.values() if r.status == "duplicate"}
        assert {e.entity_key for e in events} == excluded
        for e in events:
            change = json.loads(e.changes)
            assert change["status"][1] == "duplicate" and change["duplicate_of"][1]
        assert project.audit.verify(s) == []

    # running again changes nothing and audits nothing
    with project.db.read() as s:
        n_events = project.audit.count(s)
    again = resolve_duplicates(project, actor="curator")
    assert again.excluded == 0 and again.verified == 0
    with project.db.read() as s:
        assert project.audit.count(s) == n_events

    # the command lists the same groups, with evidence for each excluded image
    result = dermset("duplicates", "--json", "--project", project.root)
    assert result.code == 0, result.err
    groups = {g["image_id"]: g for g in result.json()}
    fam_group = groups[best.image_id]
    assert sorted(fam_group["excluded"]) == sorted(r.image_id for r in fam if r.id != best.id)
    linked = {x for e in fam_group["evidence"] for x in (e["a"], e["b"])}
    assert set(fam_group["excluded"]) <= linked
    for e in fam_group["evidence"]:
        assert e["kind"] in ("exact", "near") and e["inliers"] >= 12
        assert set(e) >= {"a", "b", "kind", "hash_distance", "inliers", "score", "transform"}
    assert groups[rows["second.jpg"].image_id]["excluded"] == [rows["second_180.jpg"].image_id]
    rescan = dermset("duplicates", "--rescan", "--actor", "curator", "--project", project.root)
    assert rescan.code == 0 and "0 images newly excluded" in rescan.out, rescan.out + rescan.err
    text = dermset("duplicates", "--project", project.root)
    assert text.code == 0 and "copy: " in text.out and best.image_id in text.out


def test_a_curator_split_is_never_merged_again(project, batch):
    from dermset.ingest.dedup.review import split_image

    ingest_paths(project, [batch], workers=1)
    rows = _by_name(project)
    copy = (
        rows["copy_flip.jpg"] if rows["copy_flip.jpg"].status == "duplicate" else rows["orig.jpg"]
    )
    with project.db.session() as s:
        split_image(
            s,
            project,
            image=copy.image_id,
            actor="cur",
            role="curator",
            reason="a different photograph",
        )
    report = resolve_duplicates(project, actor="curator")
    assert report.excluded == 0
    with project.db.read() as s:
        again = s.execute(select(Image).where(Image.id == copy.id)).scalar_one()
        assert again.status == "active" and again.duplicate_of is None


def test_keep_policy():
    members = [
        Member(3, 0.9, "sop_failed"),
        Member(5, 0.7, "active"),
        Member(4, 0.7, "active"),
        Member(6, None, "active"),
    ]
    assert choose_kept(members, "best_quality") == 4  # best passing the SOP, ties → first
    assert choose_kept(members, "first_ingested") == 4
    assert (
        choose_kept([Member(9, None, "active"), Member(8, None, "duplicate")], "best_quality") == 8
    )
    assert (
        choose_kept([Member(3, 0.2, "sop_failed"), Member(2, 0.1, "sop_failed")], "best_quality")
        == 3
    )
    # the SOP score saturates: a re-encoded JPEG copy loses to its less compressed original,
    # a smaller copy to the larger image, and across formats the first ingested stays
    jpeg, png = "image/jpeg", "image/png"
    reencoded = Member(1, 0.909, "active", 1_080_000, 48_905, jpeg)
    original = Member(2, 0.909, "active", 1_080_000, 152_745, jpeg)
    assert choose_kept([reencoded, original], "best_quality") == 2
    smaller = Member(3, 0.909, "active", 388_800, 300_000, jpeg)
    assert choose_kept([smaller, original], "best_quality") == 2
    png_resave = Member(4, 0.909, "active", 1_080_000, 1_071_898, png)
    assert choose_kept([original, png_resave], "best_quality") == 2
    assert components([(1, 2), (2, 3), (7, 8)]) == [[1, 2, 3], [7, 8]]
    with pytest.raises(ValueError):
        choose_kept(members, "newest")
