"""A release of a verified cohort: its layout, its validators, its splits and its seal.

Every check reads the files the release wrote and judges them with the tool the outside world
would use (isic-metadata / isic-cli, mlcroissant, bagit, Hugging Face datasets, Pillow), or with
counts computed here from the planted truth.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import shutil
import stat
from collections import Counter, defaultdict
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner
from isic_metadata.metadata import MetadataRow
from PIL import Image as PILImage
from sqlalchemy import select

from dermset.registry.keys import Keyring
from dermset.registry.project import Project
from dermset.registry.tables import AuditHead, Release
from dermset.release.create import ReleaseRefused, create_release, verify_release
from dermset.release.reader import load_release
from release_cohort import build_cohort

CONTRACT_COLUMNS = [
    "isic_id",
    "filename",
    "patient_id",
    "lesion_id",
    "age_approx",
    "sex",
    "fitzpatrick_skin_type",
    "anatom_site_general",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
    "acquisition_device",
    "acquisition_day",
    "diagnosis",
    "diagnosis_category",
    "benign_malignant",
    "diagnosis_confirm_type",
    "verification_stage",
]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    proj = Project.init(tmp_path_factory.mktemp("rel") / "proj")
    truth = build_cohort(proj, n_patients=24, seed=7)
    folder = create_release(proj, "v1", actor="curator_dora", n_bootstrap=50)
    yield proj, truth, folder
    proj.close()


def test_layout_is_the_release_contract_and_the_reader_loads_it(released):
    proj, truth, folder = released
    for name in (
        "release.json",
        "metadata.csv",
        "structures.csv",
        "splits.csv",
        "data.parquet",
        "croissant.json",
        "datasheet.md",
        "manifest.json",
        "protocol.toml",
        "contribution/metadata.csv",
        "bag/bagit.txt",
        "report/report.html",
        "report/stats.json",
    ):
        assert (folder / name).is_file(), name
    rows = _csv(folder / "metadata.csv")
    with (folder / "metadata.csv").open() as fh:
        assert next(csv.reader(fh)) == CONTRACT_COLUMNS
    assert len(rows) == len(truth.images)
    assert {r["isic_id"] for r in rows} == set(truth.images)  # public ids, stable
    for r in rows:
        assert (folder / "images" / f"{r['isic_id']}.jpg").is_file()
        assert r["filename"] == f"{r['isic_id']}.jpg"
        assert r["diagnosis_category"] == truth.final_label(r["isic_id"])
        assert r["verification_stage"] == truth.expected_stage(r["isic_id"])
    info = json.loads((folder / "release.json").read_text())
    assert info["version"] == 1 and info["protocol"]["version"] == proj.protocol.version
    assert [c["code"] for c in info["taxonomy"]] == proj.protocol.taxonomy().codes
    release = load_release(folder, require_images=True)  # the analyses' reader
    assert len(release.ids) == len(truth.images)
    assert release.splits is not None and len(release.splits) == len(truth.images)


def test_metadata_passes_the_isic_archive_validator(released):
    _, _, folder = released
    for i, row in enumerate(_csv(folder / "metadata.csv"), start=2):
        upload = {
            k: v
            for k, v in row.items()
            if v and k not in ("isic_id", "filename", "diagnosis_category", "age_approx")
        }
        upload["age"] = row["age_approx"]
        MetadataRow.model_validate(upload)  # raises on any problem, naming the row's field
        assert row["diagnosis"].count(":") >= 1, i  # the full ISIC hierarchy term


def test_contribution_package_passes_isic_metadata_validate(released):
    """isic-cli's own `isic metadata validate`, run on the package's CSV."""
    from isic_cli.cli.metadata import validate

    _, truth, folder = released
    package = folder / "contribution"
    rows = _csv(package / "metadata.csv")
    assert len(rows) == len(truth.images)
    for r in rows:
        assert (package / "images" / r["filename"]).is_file()
        assert int(r["age"]) % 5 == 0
    result = CliRunner().invoke(validate, [str(package / "metadata.csv")])
    assert result.exit_code == 0, result.output
    assert "No structural errors found" in result.output


def test_contribution_with_a_bad_row_fails_isic_metadata_validate(released, tmp_path):
    from isic_cli.cli.metadata import validate

    _, _, folder = released
    rows = _csv(folder / "contribution" / "metadata.csv")
    rows[0]["sex"] = "unknown-sex"
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    result = CliRunner().invoke(validate, [str(bad)])
    assert result.exit_code == 1 and "sex" in result.output


def test_croissant_validates_with_mlcroissant_and_joins_images(released):
    import mlcroissant as mlc

    _, truth, folder = released
    card = json.loads((folder / "croissant.json").read_text())
    for rai in (
        "dataCollection",
        "dataBiases",
        "dataLimitations",
        "dataAnnotationProtocol",
        "personalSensitiveInformation",
        "dataReleaseMaintenancePlan",
    ):
        assert any(k.endswith(rai) for k in card), rai
    ds = mlc.Dataset(jsonld=str(folder / "croissant.json"))
    records = list(ds.records("images"))
    assert len(records) == len(truth.images)
    by_id = {r["images/isic_id"].decode(): r for r in records}
    some = sorted(by_id)[0]
    assert by_id[some]["images/image"].size == (64, 48)
    assert by_id[some]["images/diagnosis_category"].decode() == truth.final_label(some)
    categories = list(ds.records("categories"))
    assert len(categories) == 9


def test_parquet_loads_in_hugging_face_datasets_with_an_image_feature(released, tmp_path):
    import datasets

    _, truth, folder = released
    ds = datasets.load_dataset(
        "parquet",
        data_files=str(folder / "data.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert isinstance(ds.features["image"], datasets.Image)
    assert len(ds) == len(truth.images)
    row = ds[0]
    with PILImage.open(folder / "images" / f"{row['isic_id']}.jpg") as im:
        assert row["image"].size == im.size
    assert row["diagnosis_category"] == truth.final_label(row["isic_id"])
    assert isinstance(row["age_approx"], int) and isinstance(row["fold"], int)


def test_bag_validates_with_bagit_and_breaks_when_a_file_changes(released, tmp_path):
    _, _, folder = released
    bag = bagit.Bag(str(folder / "bag"))
    bag.validate()
    assert "sha256" in bag.algorithms
    assert (folder / "bag" / "manifest-sha256.txt").is_file()
    copy = tmp_path / "bag"
    shutil.copytree(folder / "bag", copy)
    target = copy / "data" / "metadata.csv"
    target.chmod(0o644)
    target.write_text(target.read_text().replace("female", "male", 1))
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(copy)).validate()


def test_no_patient_in_two_folds_and_folds_are_stratified(released):
    _, truth, folder = released
    splits = _csv(folder / "splits.csv")
    folds_of: dict[str, set[str]] = defaultdict(set)
    for r in splits:
        patient = truth.images[r["isic_id"]]["patient"]
        folds_of[patient].add(r["fold"])
        assert r["patient_id"] == _csv_row(folder, r["isic_id"])["patient_id"]
    assert all(len(f) == 1 for f in folds_of.values())  # the leakage test
    assert {int(r["fold"]) for r in splits} == set(range(5))
    nv = Counter(r["fold"] for r in splits if truth.final_label(r["isic_id"]) == "NV")
    assert len(nv) >= 4  # the commonest category is spread over the folds


def _csv_row(folder: Path, isic_id: str) -> dict[str, str]:
    return next(r for r in _csv(folder / "metadata.csv") if r["isic_id"] == isic_id)


def test_deidentified_on_the_files_themselves(released):
    proj, truth, folder = released
    blobs = [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]
    everything = b"\n".join(blobs)
    for name in truth.original_names:  # no original file name anywhere, parquet included
        assert name.encode() not in everything
    for local in truth.source_ids[:20]:  # no local id anywhere
        assert local.encode() not in everything
    for p in (folder / "images").iterdir():
        data = p.read_bytes()
        assert b"Exif\x00" not in data and b"http://ns.adobe.com" not in data
        with PILImage.open(p) as im:
            assert not im.getexif() and "exif" not in im.info and "comment" not in im.info
    secret = (proj.root / "secret.key").read_text().strip().encode()
    assert secret not in everything
    rows = _csv(folder / "metadata.csv")
    assert all(int(r["age_approx"]) % 5 == 0 and int(r["age_approx"]) <= 85 for r in rows)
    # pseudonyms: reproducible with the project secret, not without it
    keys = proj.keys
    other = Keyring(b"another secret, not the project's")
    for r in rows:
        facts = truth.images[r["isic_id"]]
        assert r["patient_id"] == keys.patient_pseudonym(facts["patient"])
        assert r["patient_id"] != other.patient_pseudonym(facts["patient"])
        assert r["lesion_id"] == keys.lesion_pseudonym(facts["lesion"])
        plain = hashlib.sha256(facts["patient"].encode()).hexdigest()[:16]
        unkeyed = hmac.new(b"", facts["patient"].encode(), hashlib.sha256).hexdigest()[:16]
        assert plain not in r["patient_id"] and unkeyed not in r["patient_id"]


def test_manifest_pins_files_protocol_snapshot_and_splits(released):
    proj, _, folder = released
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest["files"]
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).parts[0] != "bag"
    }
    assert set(files) == on_disk - {"manifest.json"}
    for rel, entry in files.items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == entry["sha256"], rel
    assert manifest["protocol"]["version"] == proj.protocol.version
    assert (
        manifest["protocol"]["sha256"]
        == hashlib.sha256(proj.protocol_path.read_bytes()).hexdigest()
    )
    with proj.db.read() as s:
        head = s.get(AuditHead, 1)
        rel = s.execute(select(Release).where(Release.name == "v1")).scalar_one()
        # the release itself was audited after the snapshot: one event more
        assert manifest["registry_snapshot"]["audit_seq"] == head.seq - 1
        assert (
            rel.manifest_sha256
            == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
        )
        assert rel.version == 1 and rel.splits == "patient-kfold:5"
    assert manifest["splits"]["spec"] == "patient-kfold:5" and manifest["splits"]["seed"] == 0
    assert files["splits.csv"]["sha256"]


def test_release_is_sealed_and_never_overwritten(released):
    proj, _, folder = released
    for p in folder.rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o555 if p.is_dir() else 0o444), p
    before = (folder / "manifest.json").read_bytes()
    with pytest.raises(ReleaseRefused, match="immutable"):
        create_release(proj, "v1", actor="someone")
    assert (folder / "manifest.json").read_bytes() == before
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    assert verify_release(folder) == []


def test_verify_names_a_file_changed_after_release(released, tmp_path):
    _, _, folder = released
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    for p in [copy, *copy.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    target = copy / "images" / sorted(p.name for p in (copy / "images").iterdir())[0]
    target.write_bytes(target.read_bytes() + b"\x00extra")
    problems = verify_release(copy)
    assert any(f"images/{target.name}" in p and "SHA-256" in p for p in problems)


def test_holdout_is_patient_level_with_the_asked_share(released):
    proj, truth, _ = released
    folder = create_release(
        proj, "v1-holdout", splits="holdout:0.2", actor="curator_dora", n_bootstrap=20
    )
    splits = _csv(folder / "splits.csv")
    by_patient: dict[str, set[str]] = defaultdict(set)
    for r in splits:
        by_patient[truth.images[r["isic_id"]]["patient"]].add(r["split"])
    assert all(len(v) == 1 for v in by_patient.values())
    share = sum(r["split"] == "test" for r in splits) / len(splits)
    assert 0.1 <= share <= 0.3
    info = json.loads((folder / "release.json").read_text())
    assert info["version"] == 2 and info["splits"]["spec"] == "patient-holdout:0.2"
