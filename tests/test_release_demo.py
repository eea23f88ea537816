"""The demo's path end to end: synthetic cohort → ingest → verification → report → release.

The cohort plants privacy bait (phone EXIF with GPS, serial numbers and a person's name; a
name in the file name); the release must carry none of it. The report's demographics must
equal what the cohort's own metadata CSV says about the images that entered the dataset.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.pipeline import ingest_paths
from dermset.registry.project import Project
from dermset.registry.tables import Image
from dermset.release.create import create_release, verify_release
from dermset.report.dataset_report import build_report
from dermset.synthetic import MIN_SIZE, generate_cohort
from dermset.synthetic.reviewers import simulate_verification


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    manifest = generate_cohort(root / "cohort", size=MIN_SIZE, seed=4)
    proj = Project.init(root / "project")
    ingest_paths(
        proj,
        [manifest.images_dir],
        metadata=manifest.metadata_csv,
        mapping=load_mapping("isic"),
        workers=1,
        actor="demo-clinician",
        resolve=False,  # the near-duplicate search is tested with its own module
    )
    truth_of = {les["lesion_id"]: les["diagnosis"] for les in manifest.lesions}
    by_source = {img["image"]: truth_of.get(img["lesion_id"]) for img in manifest.images}
    with proj.db.read() as s:
        ids = s.execute(select(Image.image_id, Image.source_id)).all()
    simulate_verification(
        proj,
        seed=4,
        truth={i: by_source[src] for i, src in ids if by_source.get(src)},
        n_bootstrap=50,
    )
    build_report(proj, root / "report", n_bootstrap=50)
    folder = create_release(proj, "demo-1", actor="curator", n_bootstrap=50)
    with (manifest.metadata_csv).open(encoding="utf-8") as fh:
        rows = {r["image"]: r for r in csv.DictReader(fh)}
    yield proj, manifest, rows, root, folder
    proj.close()


def test_report_demographics_equal_the_cohort_csv(demo):
    proj, _, rows, root, _ = demo
    stats = json.loads((root / "report" / "stats.json").read_text())
    with proj.db.read() as s:
        active = [
            src for (src,) in s.execute(select(Image.source_id).where(Image.status == "active"))
        ]
    assert stats["flow"]["unique_images"] == len(active) > 0
    mine = [rows[src] for src in active]
    sex = Counter(r["sex"] or "missing" for r in mine)
    assert stats["sex"] == dict(sex)
    fitz = Counter(r["fitzpatrick_skin_type"] or "missing" for r in mine)
    assert stats["fitzpatrick_skin_type"] == dict(fitz)
    for sx in ("female", "male"):
        ages = Counter(
            int(5 * math.floor(min(float(r["age"]), 85) / 5 + 0.5))
            for r in mine
            if r["age"] and r["sex"] == sx
        )
        assert stats["age"]["by_sex"].get(sx, {}) == {str(k): v for k, v in sorted(ages.items())}
    assert stats["cohort"]["patients"] == len({r["patient_id"] for r in mine})
    # the report's flow is the flow of files: quarantined ones never became records
    quarantined = sum(1 for img in demo[1].images if img["expect"].get("quarantine"))
    assert stats["flow"]["quarantined_files"] == quarantined
    assert stats["flow"]["records"] == len(rows) - quarantined


def test_release_carries_none_of_the_privacy_bait(demo):
    _, manifest, rows, _, folder = demo
    everything = b"\n".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    for r in rows.values():
        assert r["filename"].encode() not in everything, r["filename"]
        assert r["image"].encode() not in everything  # the capture's local id
        assert r["patient_id"].encode() not in everything
    for img in manifest.images:
        person = img.get("bait_person")
        if person:
            for part in person.values():
                assert part.encode() not in everything, part
    for p in (folder / "images").iterdir():
        with PILImage.open(p) as im:
            assert not im.getexif(), p.name
    assert verify_release(folder) == []
