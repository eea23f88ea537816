"""`dermset release diff`: planted changes between two releases are reported, nothing else."""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy import select

from cli_helpers import dermset
from dermset.model.record import ImageRecord
from dermset.registry.record_writer import ImageInput, RecordWriter
from dermset.registry.tables import Image
from dermset.release.create import create_release, list_releases
from dermset.verification import clinical_annotate, enter_histopathology
from release_cohort import build_cohort, jpeg


def test_diff_reports_added_removed_relabelled_and_restaged(project):
    truth = build_cohort(project, n_patients=14, seed=31)
    create_release(project, "v1", actor="curator_dora", splits="none", n_bootstrap=10)

    by_lesion: dict[str, list[str]] = {}
    for image_id, facts in sorted(truth.images.items()):
        by_lesion.setdefault(facts["lesion"], []).append(image_id)
    open_lesions = [
        lesion
        for lesion, ids in by_lesion.items()
        if lesion not in truth.histopathology and truth.images[ids[0]]["truth"] in ("NV", "BKL")
    ]
    restage, relabel = open_lesions[0], open_lesions[1]
    withdrawn = next(
        i for les, ids in by_lesion.items() if les not in (restage, relabel) for i in ids
    )
    with project.db.session() as s:
        # stage 3 confirms one lesion's label, and overturns another's
        same = truth.final_label(by_lesion[restage][0])
        enter_histopathology(
            s,
            project,
            lesion=restage,
            diagnosis=same,
            report_date=date(2025, 6, 1),
            entered_by="path_paul",
        )
        enter_histopathology(
            s,
            project,
            lesion=relabel,
            diagnosis="MEL",
            report_date=date(2025, 6, 2),
            entered_by="path_paul",
        )
        img = s.execute(select(Image).where(Image.image_id == withdrawn)).scalar_one()
        img.status = "withdrawn"
        project.audit.record(
            s,
            actor="curator_dora",
            entity="image",
            key=withdrawn,
            action="status",
            changes={"status": ("active", "withdrawn")},
        )
    with project.db.session() as s:  # a new capture, annotated by its clinician
        data = jpeg(np.random.default_rng(99))
        rec = ImageRecord.model_validate(
            {"age_approx": 30, "sex": "female", "image_type": "dermoscopic"}
        )
        out = RecordWriter(project, s, actor="t", source="planted").write(
            [
                ImageInput(
                    record=rec,
                    source_id="SITE-A-new",
                    patient_local="H-new",
                    lesion_local="H-new-L0",
                    image_columns={
                        "sha256": project.store.put(data),
                        "media_type": "image/jpeg",
                        "status": "active",
                    },
                )
            ]
        )
        added = out[0].image_id
        clinical_annotate(s, project, image=added, annotator="dr_clinic", diagnosis="NV")
    r = dermset(
        "release",
        "create",
        "--name",
        "v2",
        "--splits",
        "none",
        "--bootstrap",
        "10",
        "--project",
        project.root,
        "--actor",
        "curator_dora",
    )
    assert r.code == 0, r.err
    assert r.out.startswith("Release v2 (version 2):")
    assert dermset("release", "verify", "v2", "--project", project.root).code == 0

    r = dermset("release", "diff", "v1", "v2", "--project", project.root, "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["added"] == [added]
    assert d["removed"] == [withdrawn]
    assert {x["isic_id"]: (x["from"], x["to"]) for x in d["relabelled"]} == {
        i: (truth.final_label(i), "MEL") for i in by_lesion[relabel]
    }
    assert {x["isic_id"]: (x["from"], x["to"]) for x in d["restaged"]} == {
        i: (truth.expected_stage(i), "histopathology")
        for i in by_lesion[restage] + by_lesion[relabel]
    }
    assert d["other_changes"] == {}
    n_same = len(truth.images) - 1 - len(by_lesion[restage]) - len(by_lesion[relabel])
    assert d["unchanged"] == n_same

    text = dermset("release", "diff", "v1", "v2", "--project", project.root)
    assert text.out.splitlines()[0] == (
        f"v1 → v2: 1 added, 1 removed, {len(by_lesion[relabel])} relabelled, "
        f"{len(by_lesion[restage]) + len(by_lesion[relabel])} re-staged, {n_same} unchanged"
    )
    assert f"{by_lesion[relabel][0]}  {truth.final_label(by_lesion[relabel][0])} → MEL" in text.out

    listed = dermset("release", "list", "--project", project.root, "--json").json()
    assert [(x["name"], x["version"], x["present"]) for x in listed] == [
        ("v1", 1, True),
        ("v2", 2, True),
    ]
    assert listed[1]["images"] == len(truth.images)  # one withdrawn, one added


def test_diff_of_unknown_release_is_a_clear_error(project):
    r = dermset("release", "diff", "v1", "nope", "--project", project.root)
    assert r.code == 2
    assert "no release named 'v1'" in r.err
    assert "Traceback" not in r.err


def test_a_release_on_postgresql(postgres_url, tmp_path):
    from dermset.registry.project import Project

    proj = Project.init(tmp_path / "pg", database_url=postgres_url)
    truth = build_cohort(proj, n_patients=6, seed=32)
    folder = create_release(
        proj, "v1", actor="curator_dora", splits="patient-kfold:2", n_bootstrap=10
    )
    listed = list_releases(proj)  # the CLI would need $DERMSET_DATABASE_URL for this server
    proj.close()
    assert [(x["name"], x["images"], x["version"]) for x in listed] == [
        ("v1", len(truth.images), 1)
    ]
    assert (folder / "manifest.json").is_file()
