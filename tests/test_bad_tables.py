"""Malformed metadata gets clear errors naming file, row and column; never a traceback, never
a half-imported file."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cli_helpers import dermset
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata_import import import_table
from dermset.registry import record_writer
from dermset.registry.quarantine import open_entries
from dermset.registry.summary import status
from dermset.registry.tables import AuditEvent, Image

GOOD = "isic_id,patient_id,lesion_id,age_approx,sex,anatom_site_general,diagnosis\n"


def write(tmp_path, text: str | bytes, name="meta.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def validate_json(path, mapping="isic"):
    r = dermset("validate", path, "--mapping", mapping, "--json")
    assert "Traceback" not in r.out + r.err
    return r.code, r.json()


def test_missing_required_column(tmp_path):
    path = write(tmp_path, "patient_id,diagnosis\nP1,nevus\n")
    code, report = validate_json(path)
    assert code == 1
    [p] = [p for p in report["problems"] if p["rule"] == "missing_column"]
    assert p["file"] == "meta.csv" and p["field"] == "source_id" and "isic_id" in p["message"]


def test_wrong_types_and_unknown_terms_name_row_column_value(tmp_path):
    path = write(tmp_path, GOOD + "ISIC_1,P1,L1,abc,male,posterior torso,nevus\n"
                                  "ISIC_2,P2,L2,40,m,head/neck,nevus\n"
                                  "ISIC_3,P3,L3,40,male,head/neck,freckle-thing\n"
                                  "ISIC_4,P4,L4,40,female,torso-ish,melanoma\n")
    code, report = validate_json(path)
    assert code == 1
    by_row = {p["row"]: p for p in report["problems"]}
    assert by_row[2]["column"] == "age_approx" and by_row[2]["value"] == "abc"
    assert by_row[3]["column"] == "sex" and by_row[3]["value"] == "m"
    assert by_row[4]["column"] == "diagnosis" and "freckle-thing" in by_row[4]["value"]
    assert by_row[5]["column"] == "anatom_site_general"
    assert "Input should be" in by_row[5]["message"] or "torso" in by_row[5]["message"]
    assert report["valid_rows"] == 0 and report["rows"] == 4


def test_bom_and_latin1_files_are_read(tmp_path):
    row = "ISIC_1,P1,L1,40,male,posterior torso,nevus\n"
    bom = write(tmp_path, "\ufeff" + GOOD + row, "bom.csv")
    code, report = validate_json(bom)
    assert code == 0 and report["valid_rows"] == 1
    latin = write(tmp_path, (GOOD + "ISIC_1,Pé1,L1,40,male,head/neck,nevus\n").encode("latin-1"),
                  "latin.csv")
    code, report = validate_json(latin)
    assert code == 0 and report["valid_rows"] == 1
    [w] = report["problems"]
    assert w["rule"] == "encoding" and w["severity"] == "warning"


@pytest.mark.parametrize(
    ("content", "rule"),
    [(b"", "empty_file"), (b"\n\n  \n", "empty_file"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
     (b"isic_id,sex,sex\nISIC_1,male,female\n", "duplicate_header")],
)
def test_unusable_files(tmp_path, content, rule):
    code, report = validate_json(write(tmp_path, content))
    assert code == 1
    assert [p["rule"] for p in report["problems"]] == [rule]


def test_ten_megabyte_field_is_rejected_in_its_row(tmp_path):
    huge = "x" * (10 * 1024 * 1024)
    path = write(tmp_path, GOOD + f"ISIC_1,P1,L1,40,male,posterior torso,{huge}\n"
                                  "ISIC_2,P2,L2,40,male,posterior torso,nevus\n")
    code, report = validate_json(path)
    assert code == 1
    [p] = report["problems"]
    assert (p["row"], p["column"], p["rule"]) == (2, "diagnosis", "field_too_long")
    assert len(p["value"]) < 200  # the report does not echo 10 MB back
    assert report["valid_rows"] == 1


def test_wrong_field_count_and_unknown_columns(tmp_path):
    path = write(tmp_path, "isic_id,sex,colour_of_car\nISIC_1,male\nISIC_2,female,red\n")
    code, report = validate_json(path)
    assert code == 1
    rules = {(p["rule"], p["severity"]) for p in report["problems"]}
    assert ("field_count", "error") in rules and ("unknown_column", "warning") in rules


def test_duplicate_ids_in_one_file(tmp_path):
    path = write(tmp_path, GOOD + "ISIC_1,P1,L1,40,male,posterior torso,nevus\n"
                                  "ISIC_1,P1,L1,40,male,posterior torso,nevus\n")
    code, report = validate_json(path)
    assert code == 1
    [p] = report["problems"]
    assert p["rule"] == "duplicate_id" and p["row"] == 3 and "row 2" in p["message"]


def test_invalid_rows_are_quarantined_valid_rows_import(tmp_path, project):
    path = write(tmp_path, GOOD + "ISIC_1,P1,L1,40,male,anterior torso,nevus\n"
                                  "ISIC_2,Jane Doe,L2,40,zz,posterior torso,nevus\n")
    r = dermset("import-metadata", path, "--mapping", "isic", "--project", project.root,
                "--json")
    assert r.code == 1
    assert r.json()["imported"] == 1 and r.json()["quarantined"] == 1
    with project.db.read() as s:
        [q] = open_entries(s)
        assert q.row == 3 and q.field == "sex"
        assert "Jane Doe" not in str(q.details) + q.reason  # no identifier in the quarantine
    again = dermset("import-metadata", path, "--mapping", "isic", "--project", project.root,
                    "--json")
    assert again.json()["quarantined"] == 0  # the same problem is not quarantined twice
    with project.db.read() as s:
        assert len(open_entries(s)) == 1


def test_a_failure_mid_import_leaves_nothing_behind(tmp_path, project, monkeypatch):
    rows = "".join(f"ISIC_{i},P{i},L{i},40,male,posterior torso,nevus\n" for i in range(5000))
    path = write(tmp_path, GOOD + rows)
    calls = {"n": 0}
    real_write = record_writer.RecordWriter.write

    def failing_write(self, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_write(self, items)

    monkeypatch.setattr(record_writer.RecordWriter, "write", failing_write)
    with pytest.raises(OSError):
        import_table(project, path, load_mapping("isic"), actor="t")
    with project.db.read() as s:
        assert s.execute(select(func.count()).select_from(Image)).scalar() == 0
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar() == 0
        assert status(s)["patients"] == 0
    monkeypatch.undo()
    report = import_table(project, path, load_mapping("isic"), actor="t")
    assert report.imported == 5000
    assert project.audit.verify(project.db._readers()) == []


def test_unknown_mapping_is_explained(tmp_path):
    r = dermset("validate", write(tmp_path, GOOD), "--mapping", "ham1000")
    assert r.code == 2 and "built-in mappings" in r.err
