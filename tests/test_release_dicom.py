"""The optional DICOM export: Dermoscopic Photography Image IOD, checked with dciodvfy."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.encaps import generate_frames

from conftest import skip_or_fail
from dermset.model.record import ImageRecord
from dermset.registry.project import Project
from dermset.registry.record_writer import ImageInput, RecordWriter
from dermset.release.create import create_release
from dermset.release.gate import check_release, registry_facts
from dermset.verification import clinical_annotate
from release_cohort import build_cohort

DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    proj = Project.init(tmp_path_factory.mktemp("dicom") / "proj")
    build_cohort(proj, n_patients=5, seed=41)
    with proj.db.session() as s:  # one image kept as PNG (as TIFF and HEIF captures are stored)
        buf = io.BytesIO()
        rng = np.random.default_rng(5)
        PILImage.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(buf, "PNG")
        rec = ImageRecord.model_validate(
            {
                "age_approx": 85,
                "sex": "male",
                "image_type": "dermoscopic",
                "dermoscopic_type": "non-contact polarized",
            }
        )
        out = RecordWriter(proj, s, actor="t", source="planted").write(
            [
                ImageInput(
                    record=rec,
                    source_id="SITE-A-png",
                    patient_local="H-png",
                    lesion_local="H-png-L0",
                    image_columns={
                        "sha256": proj.store.put(buf.getvalue()),
                        "media_type": "image/png",
                        "status": "active",
                    },
                )
            ]
        )
        clinical_annotate(s, proj, image=out[0].image_id, annotator="dr_clinic", diagnosis="NV")
    folder = create_release(proj, "v1", actor="curator", splits="none", dicom=True, n_bootstrap=10)
    with (folder / "metadata.csv").open() as fh:
        rows = {r["isic_id"]: r for r in csv.DictReader(fh)}
    yield proj, folder, rows, out[0].image_id
    proj.close()


def test_every_image_has_a_dicom_file_that_dciodvfy_accepts(release):
    _, folder, rows, _ = release
    files = sorted((folder / "dicom").glob("*.dcm"))
    assert {p.stem for p in files} == set(rows)
    if DCIODVFY is None:
        skip_or_fail("dciodvfy (Debian's dicom3tools) is not installed")
    for path in files:
        done = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, check=False)
        report = done.stdout + done.stderr
        assert "DermoscopicPhotographyImage" in report, report  # it knows the IOD
        errors = [line for line in report.splitlines() if line.startswith("Error")]
        assert errors == [], (path.name, errors)


def test_patient_lesion_and_pixels_match_the_release(release):
    _, folder, rows, png_id = release
    for isic_id, row in rows.items():
        ds = pydicom.dcmread(folder / "dicom" / f"{isic_id}.dcm")
        assert ds.SOPClassUID == pydicom.uid.DermoscopicPhotographyImageStorage
        assert ds.Modality == "DMS"
        assert ds.PatientID == row["patient_id"] and str(ds.PatientName) == ""
        assert ds.PatientAge == f"{int(row['age_approx']):03d}Y"
        assert ds.PatientSex == {"female": "F", "male": "M"}[row["sex"]]
        assert ds.SeriesDescription == f"lesion {row['lesion_id']}"
        assert ds.DeviceSerialNumber == "UNKNOWN"
        image = (folder / "images" / row["filename"]).read_bytes()
        if isic_id == png_id:
            assert ds.LightSourcePolarization == "POLARIZED" and ds.ContactMethod == "NON_CONTACT"
            expect = np.asarray(PILImage.open(io.BytesIO(image)).convert("RGB"))
            assert np.array_equal(ds.pixel_array, expect)
        else:  # the captured JPEG, bit for bit
            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            assert frame.rstrip(b"\x00") == image.rstrip(b"\x00")
            assert ds.AnatomicRegionSequence[0].CodeValue == row["anatom_site_general"]
    # one study per patient, one series per lesion
    by_patient: dict[str, set[str]] = {}
    for isic_id, row in rows.items():
        ds = pydicom.dcmread(folder / "dicom" / f"{isic_id}.dcm", stop_before_pixels=True)
        by_patient.setdefault(row["patient_id"], set()).add(ds.StudyInstanceUID)
    assert all(len(uids) == 1 for uids in by_patient.values())


def test_the_gate_reads_the_dicom_files(release, tmp_path):
    proj, folder, rows, _ = release
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("bag"))
    for p in [copy, *copy.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    target = copy / "dicom" / f"{sorted(rows)[0]}.dcm"
    ds = pydicom.dcmread(target)
    ds.PatientName = "Mustermann^Erika"
    ds.PatientAge = "037Y"
    ds.save_as(target)
    rules = {v.rule for v in check_release(copy, registry_facts(proj))}
    assert {"dicom_identity", "age_form"} <= rules
