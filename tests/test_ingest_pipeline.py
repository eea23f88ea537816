"""The ingest pipeline end to end: real images and metadata, SQLite and PostgreSQL, Dask, fsspec."""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from cli_helpers import dermset
from conftest import IMAGES, TABLES
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata_import import import_table
from dermset.ingest.pipeline import ingest_paths
from dermset.registry.fsck import fsck
from dermset.registry.project import Project
from dermset.registry.quality_tables import QualityCheck
from dermset.registry.tables import Image as ImageRow

UDA = IMAGES / "isic_uda1"
META = TABLES / "isic_uda1" / "uda1_image_metadata.csv"
#: byte-identical pairs inside the ISIC Archive itself (DUPLICATE_PAIRS.csv)
PAIRS = [("ISIC_0000279", "ISIC_0000280"), ("ISIC_0000477", "ISIC_0000512")]
OTHERS = ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002", "ISIC_0000003", "ISIC_0000004"]


@pytest.fixture
def batch(shared_data) -> list[Path]:
    return [UDA / f"{n}.jpg" for pair in PAIRS for n in pair] + [UDA / f"{n}.jpg" for n in OTHERS]


def _images(project: Project) -> dict[str, ImageRow]:
    with project.db.read() as s:
        rows = {r.source_id: r for r in s.execute(select(ImageRow)).scalars()}
        s.expunge_all()
    return rows


def _count_images(project: Project) -> int:
    with project.db.read() as s:
        return s.execute(select(func.count()).select_from(ImageRow)).scalar()


def test_ingest_with_metadata_on_sqlite_and_postgresql(any_project, batch):
    project = any_project
    summary = ingest_paths(project, batch, metadata=META, mapping=load_mapping("isic"), workers=2)
    data = summary.to_dict()
    for key in (
        "records",
        "duplicates_excluded",
        "quality_excluded",
        "quarantined",
        "unique_images",
    ):
        assert key in data
    assert summary.records == len(batch)
    assert summary.exact_duplicates == 2 and summary.duplicates_excluded >= 2
    assert (
        summary.duplicates_excluded
        + summary.quality_excluded
        + summary.quarantined
        + summary.unique_images
        == summary.records
    )
    rows = _images(project)
    assert set(rows) == {p.stem for p in batch}  # the metadata row's id is the source id
    for first, second in PAIRS:
        a, b = rows[first], rows[second]
        assert b.status == "duplicate" and b.duplicate_of == a.id
        assert b.sha256 == a.sha256 and b.pixel_sha256 == a.pixel_sha256
    # labels came from the metadata rows (UDA-1: melanoma is confirmed by histopathology)
    assert rows["ISIC_0000279"].diagnosis == "MEL"
    assert rows["ISIC_0000279"].diagnosis_confirm_type == "histopathology"
    # each stored once: duplicates never reach the store twice
    assert len(list(project.store.iter_keys())) == len(batch) - 2
    with project.db.read() as s:
        n_checks = s.execute(select(func.count()).select_from(QualityCheck)).scalar()
        assert project.audit.verify(s) == []
    assert n_checks == len(batch) * len(project.protocol.sop.checks)
    assert fsck(project).ok
    # the same command again imports nothing
    again = ingest_paths(project, batch, metadata=META, mapping=load_mapping("isic"), workers=1)
    assert again.already_ingested == len(batch)
    assert again.to_dict()["unique_images"] == summary.unique_images
    assert len(_images(project)) == len(batch)


def test_resaved_copies_are_exact_duplicates(project, tmp_path, shared_data):
    """Same decoded pixels is exact: a JPEG with other metadata, a PNG saved differently."""
    src = (UDA / "ISIC_0000001.jpg").read_bytes()
    d = tmp_path / "in"
    d.mkdir()
    (d / "a_original.jpg").write_bytes(src)
    text = b"exported by a gallery app"
    com = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    (d / "b_exported.jpg").write_bytes(src[:2] + com + src[2:])  # another file, same pixels
    im = Image.open(UDA / "ISIC_0000002.jpg").convert("RGB")
    im.save(d / "c_png.png", compress_level=1)
    im.save(d / "d_png_resaved.png", compress_level=9)
    # a JPEG exported losslessly as PNG: same pixels, another format (found both ways round)
    Image.open(UDA / "ISIC_0000001.jpg").save(d / "e_jpeg_as_png.png")
    Image.open(UDA / "ISIC_0000003.jpg").save(d / "0_png_first.png")
    (d / "f_jpeg_after_png.jpg").write_bytes((UDA / "ISIC_0000003.jpg").read_bytes())
    summary = ingest_paths(project, [d], workers=1)
    assert summary.records == 7 and summary.exact_duplicates == 4
    with project.db.read() as s:
        by_hmac = {r.filename_hmac: r for r in s.execute(select(ImageRow)).scalars()}
        s.expunge_all()
    names = [
        "a_original.jpg",
        "b_exported.jpg",
        "c_png.png",
        "d_png_resaved.png",
        "e_jpeg_as_png.png",
        "0_png_first.png",
        "f_jpeg_after_png.jpg",
    ]
    rows = [by_hmac[project.keys.filename(n)] for n in names]
    assert [r.status == "duplicate" for r in rows] == [False, True, False, True, True, False, True]
    assert rows[1].duplicate_of == rows[0].id and rows[3].duplicate_of == rows[2].id
    assert rows[4].duplicate_of == rows[0].id and rows[6].duplicate_of == rows[5].id
    assert len(list(project.store.iter_keys())) == 3


def test_files_complete_metadata_only_records(project, batch):
    report = import_table(project, META, load_mapping("isic"), actor="curator")
    assert report.imported > len(batch)
    before = _images(project)
    assert before["ISIC_0000000"].sha256 is None
    summary = ingest_paths(project, batch, metadata=META, mapping=load_mapping("isic"), workers=1)
    after = _images(project)
    assert summary.attached_to_metadata == len(batch)
    assert len(after) == len(before)  # no new records: the files joined their rows
    assert after["ISIC_0000000"].sha256 is not None
    assert after["ISIC_0000000"].image_id == before["ISIC_0000000"].image_id
    assert after["ISIC_0000280"].status == "duplicate"
    with project.db.read() as s:
        assert project.audit.verify(s) == []


def test_metadata_given_on_a_later_run_reaches_images_ingested_without_it(project, batch):
    ingest_paths(project, batch, workers=1)
    assert list(_images(project)) == [None]  # no source ids yet
    n_before = _count_images(project)
    again = ingest_paths(project, batch, metadata=META, mapping=load_mapping("isic"), workers=1)
    rows = _images(project)
    assert _count_images(project) == n_before  # the same records, now described by their rows
    assert set(rows) == {p.stem for p in batch}
    assert again.attached_to_metadata == len(batch)
    assert rows["ISIC_0000279"].diagnosis == "MEL"
    with project.db.read() as s:
        assert project.audit.verify(s) == []
    assert fsck(project).ok


def _fingerprint(project: Project) -> list[tuple]:
    with project.db.read() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    ImageRow.pixel_sha256,
                    ImageRow.sha256,
                    ImageRow.status,
                    ImageRow.quality_verdict,
                    ImageRow.width,
                    ImageRow.height,
                ).order_by(ImageRow.id)
            )
        ]


def test_same_pipeline_on_a_dask_cluster(tmp_path, batch):
    import distributed

    inline = Project.init(tmp_path / "inline")
    ingest_paths(inline, batch, workers=1)
    on_dask = Project.init(tmp_path / "dask")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        summary = ingest_paths(on_dask, batch, dask=cluster.scheduler_address)
    assert summary.executor == "dask" and summary.workers == 2
    assert _fingerprint(on_dask) == _fingerprint(inline)
    assert fsck(on_dask).ok


def test_store_on_an_fsspec_url(tmp_path, batch):
    url = f"memory://dermset-{uuid.uuid4().hex}"
    project = Project.init(tmp_path / "proj", store_url=url)
    summary = ingest_paths(project, batch[:5], workers=2)
    assert summary.records == 5 and summary.exact_duplicates == 2
    assert not project.store.is_local
    assert len(list(project.store.iter_keys())) == 3
    assert fsck(project).ok


def test_fsck_reports_missing_extra_and_altered(project, batch):
    ingest_paths(project, batch[4:8], workers=1)
    keys = sorted(project.store.iter_keys())
    assert fsck(project).ok
    gone, changed = keys[0], keys[1]
    project.store.fs.rm_file(project.store.path(gone))
    with project.store.fs.open(project.store.path(changed), "ab") as fh:
        fh.write(b"tampered")
    stray = project.store.put(b"a file nobody recorded")
    report = fsck(project)
    assert not report.ok
    assert [sha for _, sha in report.missing] == [gone]
    assert [k for k, _ in report.altered] == [changed]
    assert report.extra == [stray]
    repaired = fsck(project, repair=True)
    assert repaired.extra == [] and not project.store.exists(stray)
    assert repaired.missing and repaired.altered  # those need a backup, not a repair


def test_cli_ingest_and_fsck(tmp_path, batch):
    root = tmp_path / "study"
    assert dermset("init", root).code == 0
    upload = tmp_path / "upload"
    upload.mkdir()
    for p in batch[:4]:
        shutil.copy(p, upload / p.name)
    (upload / "notes.jpg").write_text("not an image")
    (upload / "README.txt").write_text("skipped: not an image file name")
    r = dermset("ingest", upload, "--project", root, "--workers", "1", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["records"] == 5 and data["quarantined"] == 1
    assert data["duplicates_excluded"] >= 2 and data["skipped_files"] == 1
    r = dermset("ingest", upload, "--project", root, "--workers", "1")
    assert r.code == 0
    assert "5 records → " in r.out and "already ingested" in r.out
    r = dermset("fsck", "--project", root)
    assert r.code == 0 and "clean" in r.out
    r = dermset("ingest", tmp_path / "nowhere", "--project", root)
    assert r.code == 2 and "no such file or folder" in r.err
    r = dermset("ingest", upload, "--metadata", META, "--project", root)
    assert r.code == 2 and "--mapping" in r.err


def test_stored_bytes_decode_to_the_recorded_size(project, batch):
    ingest_paths(project, batch[4:6], workers=1)
    for row in _images(project).values():
        im = Image.open(io.BytesIO(project.store.get(row.sha256)))
        assert im.size == (row.width, row.height)
