"""A user's own mapping in TOML, exactly as docs/mappings.md shows it."""

from __future__ import annotations

import re
from pathlib import Path

from cli_helpers import dermset

DOC = Path(__file__).resolve().parents[1] / "docs" / "mappings.md"


def test_documented_example_mapping_works(tmp_path, project):
    toml = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    mapping = tmp_path / "clinic.toml"
    mapping.write_text(toml)
    table = tmp_path / "export.csv"
    table.write_text("photo_id,mrn,lesion,age_years,gender,site,length_mm,width_mm,clinical_dx,"
                     "notes\n"
                     "A1,12345,1,37,F,face,4,6.5,nevus,fine\n"
                     "A2,12345,2,37,F,back,,3,melanoma,\n"
                     "A3,99999,1,91,U,arm,2,2,seborrheic keratosis,\n"
                     "A4,88888,1,50,X,arm,2,2,nevus,\n")
    r = dermset("import-metadata", table, "--mapping", mapping, "--project", project.root,
                "--json")
    report = r.json()
    assert r.code == 1  # row 5 has sex "X"
    assert report["imported"] == 3 and report["invalid_rows"] == 1
    [p] = report["problems"]
    assert (p["row"], p["column"], p["value"]) == (5, "gender", "X")
    images = dermset("images", "--project", project.root, "--json").json()
    assert [i["diagnosis"] for i in images] == ["NV", "MEL", "BKL"]
    assert all(i["verification_stage"] == "clinical" for i in images)
    from dermset.registry.views import image_rows

    with project.db.read() as s:
        rows = list(image_rows(s))
    assert [r["age_approx"] for r in rows] == [35, 35, 85]
    assert rows[0]["clin_size_long_diam_mm"] == 6.5
    assert rows[0]["patient_id"] == rows[1]["patient_id"] != "12345"  # pseudonymised


def test_broken_mapping_file_is_explained(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[columns]\nsource_id = 'id'\ncolour = 'c'\n[unknown_section]\n")
    table = tmp_path / "t.csv"
    table.write_text("id\n1\n")
    r = dermset("validate", table, "--mapping", bad)
    assert r.code == 2 and "invalid mapping" in r.err and "unknown_section" in r.err
