"""`dermset labels …` for an offline study: label files in, worksheets and exports out."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from cli_helpers import dermset
from dermset.registry.project import Project
from dermset.registry.tables import (
    AuditEvent,
    ClinicalAnnotation,
    Histopathology,
    Quarantine,
    Review,
    ReviewAssignment,
)
from verification_helpers import make_images, write_csv


@pytest.fixture
def proj(tmp_path):
    project = Project.init(tmp_path / "p")
    rows = [
        {
            "isic_id": f"SITE_{i}",
            "lesion_id": f"LOC-{i // 2 if i < 4 else i}",
            "age_approx": 50,
            "sex": "male",
            "anatom_site_general": "lower extremity",
        }
        for i in range(8)
    ]  # SITE_0 + SITE_1 show lesion LOC-0, SITE_2 + SITE_3 lesion LOC-1
    ids = make_images(project, rows, site="clinic-a")
    yield project, ids
    project.close()


def _n(project, table, *where):
    with project.db.read() as s:
        return s.execute(select(func.count()).select_from(table).where(*where)).scalar()


def _labels(project, *args):
    return dermset("labels", *args, "--project", project.root)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_an_offline_study_from_clinical_labels_to_an_open_release_gate(proj, tmp_path):
    project, ids = proj
    clinical = write_csv(
        tmp_path / "clinical.csv",
        [
            {
                "lesion_id": "LOC-0",
                "image_id": "",
                "annotator": "dr_clin",
                "diagnosis": "mel",
                "structures": "atypical pigment network;streaks",
                "note": "changing",
            },
            {
                "lesion_id": "",
                "image_id": "SITE_2",
                "annotator": "dr_clin",
                "diagnosis": "NV",
                "structures": "",
                "note": "",
            },
        ]
        + [
            {
                "lesion_id": "",
                "image_id": ids[f"SITE_{i}"],
                "annotator": "dr_clin",
                "diagnosis": "Nevus",
                "structures": "",
                "note": "",
            }
            for i in (3, 4, 5, 6, 7)
        ],
    )
    r = _labels(project, "import", clinical, "--stage", "clinical", "--site", "clinic-a", "--json")
    assert r.code == 0, r.out + r.err
    assert r.json()["created"] == 8  # the lesion row annotated both of its images
    r = _labels(
        project, "assign", "-r", "ana", "-r", "ben", "-r", "cara", "-r", "dr_clin", "--json"
    )
    assert r.code == 0, r.err
    report = r.json()
    assert report["assigned"] == 24 and report["load"]["dr_clin"] == 0  # never their own images

    # each reviewer fills in a blinded worksheet offline and it is imported back
    answers = {"ana": "MEL", "ben": "melanoma", "cara": "NV"}
    for reviewer, dx in answers.items():
        sheet = tmp_path / f"{reviewer}.csv"
        r = _labels(
            project, "export", "--stage", "worksheet", "--reviewer", reviewer, "--out", sheet
        )
        assert r.code == 0, r.err
        rows = _csv(sheet.read_text())
        assert len(rows) == 8 and "diagnosis" in rows[0] and "lesion_id" not in rows[0]
        for row in rows:
            row.update(diagnosis=dx, confidence="4", structures="streaks")
        write_csv(sheet, rows)
        r = _labels(project, "import", sheet, "--stage", "review", "--json")
        assert r.code == 0, r.out
    assert _n(project, Review) == 24

    r = _labels(project, "status", "--json")
    status = r.json()
    for key in (
        "by_verification_stage",
        "open_reviews",
        "open_adjudications",
        "malignant_without_histopathology",
        "release_blocked",
    ):
        assert key in status
    assert status["by_verification_stage"] == {"consensus": 8}
    assert status["open_reviews"] == 0 and status["open_adjudications"] == 0
    assert status["malignant_without_histopathology"] == 6  # 2-of-3 said MEL for every lesion
    assert status["release_blocked"] is True
    text = _labels(project, "status").out
    assert "release gate: closed" in text and "needs histopathology" in text

    histo = write_csv(
        tmp_path / "histo.csv",
        [
            {
                "lesion_id": "LOC-0",
                "diagnosis": "Melanoma in situ",
                "report_date": "2026-02-10",
                "lab_reference": "PATH-2026-001",
            }
        ]
        + [
            {
                "lesion_id": f"LOC-{k}",
                "diagnosis": "nv",
                "report_date": "2026-02-11",
                "lab_reference": "",
            }
            for k in (1, 4, 5, 6, 7)
        ],
    )
    r = _labels(
        project, "import", histo, "--stage", "histopathology", "--site", "clinic-a", "--json"
    )
    assert r.code == 0, r.out
    assert r.json()["histopathology_overrides"] == 5  # NV results overturn the MEL consensus
    status = _labels(project, "status", "--json").json()
    assert status["release_blocked"] is False
    assert status["by_verification_stage"] == {"histopathology": 8}
    assert "release gate: open" in _labels(project, "status").out

    agreement = _labels(project, "agreement", "--json", "--bootstrap", "50").json()
    assert agreement["n_images"] == 8 and "fleiss_kappa" in agreement
    assert agreement["per_class"]["MEL"]["ratings"] == 16
    assert "Fleiss' kappa" in _labels(project, "agreement", "--bootstrap", "50").out

    # the summary export has every stage side by side; no local lesion id, no lab reference
    summary = _labels(project, "export").out
    assert "LOC-0" not in summary and "PATH-2026-001" not in summary
    rows = {row["image_id"]: row for row in _csv(summary)}
    first = rows[ids["SITE_0"]]
    assert first["clinical_diagnosis"] == "MEL" and first["consensus_diagnosis"] == "MEL"
    assert first["verification_stage"] == "histopathology"
    assert rows[ids["SITE_4"]]["histopathology_overrides_consensus"] == "yes"

    # exports of the records import back without changing anything
    audit_before = _n(project, AuditEvent)
    for stage in ("clinical", "review", "histopathology"):
        path = tmp_path / f"export-{stage}.csv"
        assert _labels(project, "export", "--stage", stage, "--out", path).code == 0
        r = _labels(project, "import", path, "--stage", stage, "--json")
        assert r.code == 0, r.out
        assert r.json()["created"] == 0 and r.json()["updated"] == 0
    assert _n(project, AuditEvent) == audit_before


def test_adjudication_from_the_command_line(proj, tmp_path):
    project, ids = proj
    rows = [
        {"image_id": "SITE_5", "annotator": who, "diagnosis": dx, "confidence": "3"}
        for who, dx in (("x1", "MEL"), ("x2", "NV"), ("x3", "BKL"))
    ]
    r = _labels(project, "import", write_csv(tmp_path / "r.csv", rows), "--stage", "review")
    assert r.code == 0, r.out
    assert "1 sent to adjudication" in r.out
    # reviews made outside dermset recorded their own assignments
    assert _n(project, ReviewAssignment, ReviewAssignment.origin == "import") == 3
    image = ids["SITE_5"]
    r = dermset(
        "labels",
        "adjudicate",
        image,
        "--diagnosis",
        "BKL",
        "--reason",
        "",
        "--project",
        project.root,
        "--actor",
        "boss",
    )
    assert r.code == 2 and "needs a reason" in r.err
    r = dermset(
        "labels",
        "adjudicate",
        image,
        "--diagnosis",
        "BKL",
        "--reason",
        "fingerprint pattern",
        "--project",
        project.root,
        "--actor",
        "x1",
    )
    assert r.code == 2 and "independent" in r.err
    r = dermset(
        "labels",
        "adjudicate",
        image,
        "--diagnosis",
        "BKL",
        "--reason",
        "fingerprint pattern",
        "--project",
        project.root,
        "--actor",
        "boss",
    )
    assert r.code == 0, r.err
    status = _labels(project, "status", "--json").json()
    assert status["by_verification_stage"]["adjudicated"] == 1
    assert status["open_adjudications"] == 0


def _prepare_reviews(project, ids, tmp_path):
    """Image SITE_0 assigned to ana/ben/cara with ana's review in; SITE_1 annotated by dr_clin."""
    from dermset.verification import assign_reviewers, clinical_annotate, submit_review

    with project.db.session() as s:
        clinical_annotate(s, project, image=ids["SITE_1"], annotator="dr_clin", diagnosis="NV")
        assign_reviewers(s, project, ["ana", "ben", "cara"], actor="t", images=[ids["SITE_0"]])
        submit_review(s, project, image=ids["SITE_0"], reviewer="ana", diagnosis="NV", confidence=4)


BAD_REVIEW_ROWS = [
    # (row, what makes it bad, rule, column)
    (
        {"image_id": "NO_SUCH_IMAGE", "annotator": "ben", "diagnosis": "NV"},
        "unknown_image",
        "image_id",
    ),
    (
        {"image_id": "SITE_0", "annotator": "ben", "diagnosis": "Lentigo maligna-ish"},
        "unknown_diagnosis",
        "diagnosis",
    ),
    ({"image_id": "SITE_0", "annotator": "zed", "diagnosis": "NV"}, "not_assigned", "annotator"),
    (
        {"image_id": "SITE_0", "annotator": "ana", "diagnosis": "MEL"},
        "duplicate_review",
        "annotator",
    ),
    ({"image_id": "SITE_1", "annotator": "dr_clin", "diagnosis": "NV"}, "self_review", "annotator"),
    (
        {"image_id": "SITE_0", "annotator": "cara", "diagnosis": "NV", "structures": "sparkles"},
        "unknown_structure",
        "structures",
    ),
    (
        {"image_id": "SITE_0", "annotator": "cara", "diagnosis": "NV", "confidence": "7"},
        "invalid_confidence",
        "confidence",
    ),
    ({"image_id": "SITE_0", "annotator": "", "diagnosis": "NV"}, "missing_person", "annotator"),
]


@pytest.mark.parametrize(
    ("bad", "rule", "column"), BAD_REVIEW_ROWS, ids=[b[1] for b in BAD_REVIEW_ROWS]
)
def test_a_bad_review_row_is_reported_with_its_row_and_column_and_nothing_is_imported(
    proj, tmp_path, bad, rule, column
):
    project, ids = proj
    _prepare_reviews(project, ids, tmp_path)
    good = {
        "image_id": "SITE_0",
        "annotator": "ben",
        "diagnosis": "NV",
        "confidence": "4",
        "structures": "",
        "note": "",
    }
    if bad.get("annotator") == "ben":
        good["annotator"] = "cara"
    row = {"confidence": "", "structures": "", "note": "", **bad}
    path = write_csv(tmp_path / "reviews.csv", [good, row])
    before = (_n(project, Review), _n(project, AuditEvent), _n(project, ReviewAssignment))
    r = _labels(project, "import", path, "--stage", "review", "--json")
    assert r.code == 1
    report = r.json()
    assert report["committed"] is False and report["created"] == 0
    (problem,) = report["problems"]
    assert (problem["row"], problem["rule"], problem["column"]) == (3, rule, column)
    assert problem["file"] == "reviews.csv"
    # the good first row was not kept either: a file is imported whole or not at all
    assert (_n(project, Review), _n(project, AuditEvent), _n(project, ReviewAssignment)) == before
    assert _n(project, Quarantine, Quarantine.rule == rule) == 1
    text = _labels(project, "import", path, "--stage", "review")
    assert "row" in text.out and "nothing was imported" in text.out and "Traceback" not in text.out


def test_duplicate_rows_within_one_file_name_the_first_row(proj, tmp_path):
    project, _ = proj
    rows = [{"image_id": "SITE_6", "annotator": "x1", "diagnosis": "NV", "confidence": "3"}] * 2
    r = _labels(
        project, "import", write_csv(tmp_path / "d.csv", rows), "--stage", "review", "--json"
    )
    assert r.code == 1
    (problem,) = r.json()["problems"]
    assert problem["row"] == 3 and "row 2" in problem["message"]
    assert _n(project, Review) == 0


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("10/02/2026", "invalid_date"),
        ("2026-02-30", "invalid_date"),
        ("", "invalid_date"),
        ("2999-01-01", "implausible_date"),
    ],
)
def test_malformed_histopathology_dates_are_rejected(proj, tmp_path, value, rule):
    project, _ = proj
    rows = [
        {"lesion_id": "LOC-0", "diagnosis": "MEL", "report_date": "2026-01-02"},
        {"lesion_id": "LOC-1", "diagnosis": "MEL", "report_date": value},
    ]
    path = write_csv(tmp_path / "h.csv", rows)
    r = _labels(
        project, "import", path, "--stage", "histopathology", "--site", "clinic-a", "--json"
    )
    assert r.code == 1
    (problem,) = r.json()["problems"]
    assert (problem["row"], problem["column"], problem["rule"]) == (3, "report_date", rule)
    assert _n(project, Histopathology) == 0


def test_unknown_lesions_and_bad_headers_are_clear(proj, tmp_path):
    project, _ = proj
    # a lesion id of another site does not match
    path = write_csv(
        tmp_path / "h.csv",
        [{"lesion_id": "LOC-0", "diagnosis": "MEL", "report_date": "2026-01-02"}],
    )
    r = _labels(project, "import", path, "--stage", "histopathology", "--json")
    assert r.code == 1 and r.json()["problems"][0]["rule"] == "unknown_lesion"
    assert r.json()["problems"][0]["value"] == "LOC-0"  # shown to the user who has the file
    with project.db.read() as s:  # but the site's own lesion id is not kept in the registry
        reasons = s.execute(select(Quarantine.reason)).scalars().all()
    assert reasons and not any("LOC-0" in reason for reason in reasons)
    # a misspelt column is not silently ignored, a missing one is named
    path = write_csv(
        tmp_path / "c.csv", [{"image_id": "SITE_0", "annotator": "a", "diagnsis": "NV"}]
    )
    r = _labels(project, "import", path, "--stage", "clinical", "--json")
    rules = {p["rule"] for p in r.json()["problems"]}
    assert r.code == 1 and rules == {"unknown_column", "missing_column"}
    assert _n(project, ClinicalAnnotation) == 0
    r = _labels(project, "import", tmp_path / "missing.csv", "--stage", "clinical")
    assert r.code == 1 and "not found" in r.out
    r = _labels(project, "import", path, "--stage", "pathology")
    assert r.code == 2 and "clinical, review, histopathology" in r.err
