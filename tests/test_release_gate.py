"""The two gates of a release: verification (blockers) and de-identification (planted leaks)."""

from __future__ import annotations

import csv
import io
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from cli_helpers import dermset
from dermset.registry.project import Project
from dermset.registry.tables import Image, Release
from dermset.release.create import ReleaseRefused, create_release, releases_dir
from dermset.release.gate import DeidentificationError, check_release, registry_facts
from dermset.release.image_blocks import metadata_blocks
from release_cohort import build_cohort, jpeg


def gps_jpeg() -> bytes:
    """A JPEG with EXIF holding a GPS position, as a phone writes it."""
    exif = PILImage.Exif()
    exif[0x010F] = "Apple"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 12.0, 30.5), "E", (16.0, 22.0, 7.25)
    buf = io.BytesIO()
    PILImage.new("RGB", (64, 48), (180, 120, 100)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def _no_release_left(project: Project) -> None:
    folder = releases_dir(project)
    assert not folder.exists() or not any(folder.iterdir())  # no folder, no partial folder
    with project.db.read() as s:
        assert s.execute(select(func.count()).select_from(Release)).scalar() == 0


def test_image_blocks_names_what_a_file_carries():
    rng = __import__("numpy").random.default_rng(0)
    assert metadata_blocks(jpeg(rng)) == []  # scrubbed: pixels only
    assert "EXIF with GPS position" in metadata_blocks(gps_jpeg())
    with_com = gps_jpeg()
    com = b"\xff\xfe" + struct.pack(">H", 9) + b"patient"
    assert "comment (COM)" in metadata_blocks(with_com[:2] + com + with_com[2:])
    buf = io.BytesIO()
    info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    info.add_text("Source", "DSC_0001.JPG")
    PILImage.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    assert metadata_blocks(buf.getvalue()) == ["tEXt chunk"]
    assert metadata_blocks(jpeg(rng) + b"hidden payload") == ["14 bytes after the end of the image"]


def test_a_planted_gps_image_makes_the_release_fail_loudly(project):
    build_cohort(project, n_patients=8, seed=21)
    leak = project.store.put(gps_jpeg())
    with project.db.session() as s:
        victim = (
            s.execute(select(Image).where(Image.status == "active").order_by(Image.id))
            .scalars()
            .first()
        )
        victim.sha256 = leak
        victim_id = victim.image_id
    with pytest.raises(DeidentificationError) as err:
        create_release(project, "leaky", actor="curator_dora", n_bootstrap=10)
    text = str(err.value)
    assert f"images/{victim_id}.jpg" in text
    assert "EXIF with GPS position" in text
    assert f"data.parquet[{victim_id}]" in text  # the embedded copy is caught too
    rules = {v.rule for v in err.value.violations}
    assert rules == {"image_metadata"}
    _no_release_left(project)


def test_the_cli_refuses_with_the_violations(project):
    build_cohort(project, n_patients=6, seed=22)
    leak = project.store.put(gps_jpeg())
    with project.db.session() as s:
        s.execute(select(Image).where(Image.status == "active")).scalars().first().sha256 = leak
    r = dermset("release", "create", "--name", "v1", "--project", project.root, "--bootstrap", "10")
    assert r.code == 2
    assert "de-identification gate" in r.err and "EXIF with GPS position" in r.err
    assert "[image_metadata]" in r.err  # rule names survive the console's markup
    assert "Traceback" not in r.err + r.out
    _no_release_left(project)


def test_release_refused_while_the_verification_gate_is_closed(project):
    truth = build_cohort(project, n_patients=10, seed=23, histopathology=False)
    with pytest.raises(ReleaseRefused) as err:
        create_release(project, "v1", actor="curator_dora")
    blockers = err.value.blockers
    assert blockers and {b.kind for b in blockers} == {"malignant_without_histopathology"}
    # exactly the lesions someone called malignant are listed (planted: the pathologist is away)
    called = {
        project.keys.lesion_pseudonym(f["lesion"])
        for i, f in truth.images.items()
        if {truth.clinical[i], *truth.reviews[i].values(), f["truth"]} & {"MEL", "BCC", "SCC"}
    }
    assert {b.ref for b in blockers} == called
    r = dermset("release", "create", "--name", "v1", "--project", project.root)
    assert r.code == 2
    assert "release gate is closed" in r.err
    assert "malignant without histopathology" in r.err
    _no_release_left(project)


@pytest.fixture(scope="module")
def clean_release(tmp_path_factory):
    proj = Project.init(tmp_path_factory.mktemp("gate") / "proj")
    truth = build_cohort(proj, n_patients=8, seed=24)
    folder = create_release(proj, "v1", actor="curator_dora", n_bootstrap=10)
    yield proj, truth, folder
    proj.close()


def _editable_copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("bag"))
    for p in [copy, *copy.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return copy


def _edit_cell(path: Path, column: str, value: str) -> None:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[0][column] = value
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_a_clean_release_passes_the_gate(clean_release):
    proj, _, folder = clean_release
    assert check_release(folder, registry_facts(proj)) == []


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("patient_id", "LOCAL", "local_id"),  # a source's own image id
        ("acquisition_device", "NAME", "original_file_name"),
        ("age_approx", "37", "age_form"),
        ("patient_id", "P-000123", "pseudonym"),
    ],
)
def test_planted_leaks_in_metadata_are_caught(clean_release, tmp_path, column, value, rule):
    proj, truth, folder = clean_release
    value = {"LOCAL": truth.source_ids[0], "NAME": truth.original_names[0]}.get(value, value)
    copy = _editable_copy(folder, tmp_path)
    _edit_cell(copy / "metadata.csv", column, value)
    violations = check_release(copy, registry_facts(proj))
    hits = [v for v in violations if v.rule == rule]
    assert hits and hits[0].file == "metadata.csv" and hits[0].row == 2
    assert hits[0].column == column


def test_planted_leaks_in_text_and_columns_are_caught(clean_release, tmp_path):
    proj, truth, folder = clean_release
    copy = _editable_copy(folder, tmp_path)
    with (copy / "datasheet.md").open("a") as fh:
        fh.write(f"\nScanned from {truth.original_names[3]} at site {truth.source_ids[3]}.\n")
    with (copy / "contribution" / "metadata.csv").open() as fh:
        text = fh.read().replace("filename,", "filename,date_of_birth,", 1)
    (copy / "contribution" / "metadata.csv").write_text(text)
    (copy / "secret.key").write_text((proj.root / "secret.key").read_text())
    rules = {(v.file, v.rule) for v in check_release(copy, registry_facts(proj))}
    assert ("datasheet.md", "original_file_name") in rules
    assert ("datasheet.md", "local_id") in rules
    assert ("contribution/metadata.csv", "column") in rules
    assert ("secret.key", "project_file") in rules
    assert ("secret.key", "secret") not in rules  # .key is not scanned as text: named instead
