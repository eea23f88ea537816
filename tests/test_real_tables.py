"""The real public metadata tables validate and import with their published counts."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select

from cli_helpers import dermset
from conftest import TABLES
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata import validate_table
from dermset.ingest.metadata_import import import_table
from dermset.model.taxonomy import Taxonomy
from dermset.registry.summary import status
from dermset.registry.tables import AuditEvent

HAM = TABLES / "ham10000" / "HAM10000_metadata.csv"
PAD = TABLES / "pad-ufes-20" / "metadata.csv"
UDA = TABLES / "isic_uda1" / "uda1_image_metadata.csv"


@pytest.fixture(autouse=True)
def _needs_data(shared_data):
    return shared_data


def test_ham10000_validates_and_imports_with_published_counts(project):
    report = validate_table(HAM, load_mapping("ham10000"), Taxonomy.default())
    assert (report.rows, report.valid_rows, len(report.errors)) == (10015, 10015, 0)

    report = import_table(project, HAM, load_mapping("ham10000"), actor="test")
    assert report.imported == 10015 and report.lesions_created == 7470
    with project.db.read() as s:
        st = status(s)
    assert (st["images"], st["lesions"], st["patients"]) == (10015, 7470, 0)
    # the published count per class (Tschandl et al. 2018); akiec lands in AK
    assert st["by_diagnosis"] == {"AK": 327, "BCC": 514, "BKL": 1099, "DF": 115, "MEL": 1113,
                                  "NV": 6705, "VASC": 142}
    # the label comes with the confirmation HAM10000 states (dx_type)
    assert st["by_verification_stage"] == {"histopathology": 5340, "follow-up": 3704,
                                           "consensus": 902, "confocal": 69}


def test_reimporting_changes_nothing(project):
    import_table(project, HAM, load_mapping("ham10000"), actor="test")
    with project.db.read() as s:
        events = s.execute(select(func.count()).select_from(AuditEvent)).scalar()
        before = status(s)
    again = import_table(project, HAM, load_mapping("ham10000"), actor="test")
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 10015)
    with project.db.read() as s:
        assert status(s) == before
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar() == events


def test_pad_ufes_20_imports_with_its_patient_and_lesion_counts(any_project):
    project = any_project
    report = import_table(project, PAD, load_mapping("pad-ufes-20"), actor="test")
    assert report.errors == []
    with project.db.read() as s:
        st = status(s)
    # Pacheco et al. 2020: 1,373 patients, 1,641 lesions, 2,298 images
    assert (st["patients"], st["lesions"], st["images"]) == (1373, 1641, 2298)
    assert st["by_diagnosis"] == {"BCC": 845, "AK": 730, "NV": 244, "BKL": 235, "SCC": 192,
                                  "MEL": 52}
    # every cancer in PAD-UFES-20 is biopsy-proven
    assert st["by_verification_stage"]["histopathology"] >= 845 + 192 + 52
    # 250 lesion ids appear under two patients in the published table: reported, not hidden
    conflicts = [p for p in report.warnings if p.rule == "lesion_multiple_patients"]
    with PAD.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    first_patient: dict[str, str] = {}
    expected = 0
    for r in rows:
        first = first_patient.setdefault(r["lesion_id"], r["patient_id"])
        expected += first != r["patient_id"]
    assert len(conflicts) == expected > 0


def test_isic_archive_table_validates(project):
    report = validate_table(UDA, load_mapping("isic"), Taxonomy.default())
    assert report.ok and report.valid_rows == 557
    import_table(project, UDA, load_mapping("isic"), actor="test")
    with project.db.read() as s:
        st = status(s)
    assert st["by_diagnosis"] == {"NV": 396, "MEL": 159, "unlabelled": 2}
    assert st["by_verification_stage"]["histopathology"] == 159


def test_derm7pt_layout(tmp_path, project):
    """No Derm7pt table is shared: write one in the layout its project documents (meta.csv)."""
    header = ["case_num", "diagnosis", "seven_point_score", "pigment_network", "streaks",
              "pigmentation", "regression_structures", "dots_and_globules", "blue_whitish_veil",
              "vascular_structures", "level_of_diagnostic_difficulty", "elevation", "location",
              "sex", "clinic", "derm", "notes", "management"]
    diagnoses = {"basal cell carcinoma": "BCC", "blue nevus": "NV", "clark nevus": "NV",
                 "combined nevus": "NV", "congenital nevus": "NV", "dermal nevus": "NV",
                 "dermatofibroma": "DF", "lentigo": "BKL", "melanoma": "MEL",
                 "melanoma (in situ)": "MEL", "melanoma (less than 0.76 mm)": "MEL",
                 "melanoma (0.76 to 1.5 mm)": "MEL", "melanoma (more than 1.5 mm)": "MEL",
                 "melanoma metastasis": "MEL", "melanosis": "OTHER", "miscellaneous": "OTHER",
                 "recurrent nevus": "NV", "reed or spitz nevus": "NV",
                 "seborrheic keratosis": "BKL", "vascular lesion": "VASC"}
    locations = ["abdomen", "acral", "back", "buttocks", "chest", "genital areas", "head neck",
                 "lower limbs", "upper limbs"]
    path = tmp_path / "meta.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i, dx in enumerate(diagnoses):
            w.writerow([i + 1, dx, 1, "typical", "absent", "absent", "absent", "regular",
                        "absent", "absent", "low", "flat", locations[i % len(locations)],
                        ["female", "male"][i % 2], f"NEL/Nel{i:03d}.jpg", f"NEL/Nal{i:03d}.jpg",
                        "", "clinical follow up"])
    report = import_table(project, path, load_mapping("derm7pt"), actor="test")
    assert report.ok and report.imported == len(diagnoses)
    with project.db.read() as s:
        st = status(s)
    expected: dict[str, int] = {}
    for code in diagnoses.values():
        expected[code] = expected.get(code, 0) + 1
    assert st["by_diagnosis"] == dict(sorted(expected.items()))
    assert st["block_completeness"]["lesion"]["fields"]["anatom_site_general"] == len(diagnoses)


def test_cli_validate_json_and_exit_code(tmp_path):
    r = dermset("validate", HAM, "--mapping", "ham10000", "--json")
    assert r.code == 0
    assert r.json()["valid_rows"] == 10015
