"""The verification workflow on a real registry: the rules a study relies on."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import func, select

from dermset.registry.tables import (
    AuditEvent,
    Consensus,
    Histopathology,
    Image,
    ReviewAssignment,
    StructureFinding,
)
from dermset.verification import (
    VerificationError,
    adjudicate,
    assign_reviewer,
    assign_reviewers,
    clinical_annotate,
    enter_histopathology,
    import_labels,
    release_gate,
    submit_review,
    verification_status,
)
from dermset.verification.assignment import clinician_of
from verification_helpers import make_images, simple_images, write_csv

PANEL = ["ana", "ben", "cara"]


def _image(project, image_id):
    with project.db.read() as s:
        img = s.execute(select(Image).where(Image.image_id == image_id)).scalar_one()
        return {
            k: getattr(img, k)
            for k in (
                "diagnosis",
                "verification_stage",
                "diagnosis_confirm_type",
                "benign_malignant",
            )
        }


def _reviews(project, image_id, labels, **kw):
    with project.db.session() as s:
        for reviewer, dx in zip(PANEL, labels, strict=True):
            submit_review(
                s, project, image=image_id, reviewer=reviewer, diagnosis=dx, confidence=4, **kw
            )


def test_one_image_through_every_stage_on_sqlite_and_postgresql(any_project):
    p = any_project
    (img,) = simple_images(p, 1)
    with p.db.session() as s:
        clinical_annotate(
            s,
            p,
            image=img,
            annotator="dr_clin",
            diagnosis="nevus",
            structures="pigment network; globules",
            note="regular",
        )
    assert _image(p, img) == {
        "diagnosis": "NV",
        "verification_stage": "clinical",
        "diagnosis_confirm_type": "single contributor clinical assessment",
        "benign_malignant": "benign",
    }
    with p.db.session() as s:
        assign_reviewers(s, p, PANEL, actor="curator")
    with p.db.session() as s:  # HAM10000 code, ISIC term and a name all resolve
        submit_review(
            s,
            p,
            image=img,
            reviewer="ana",
            diagnosis="mel",
            confidence=4,
            structures=["blue-white veil", "streaks"],
        )
        submit_review(
            s,
            p,
            image=img,
            reviewer="ben",
            diagnosis="melanoma",
            confidence=3,
            structures=["streaks"],
        )
        assert _count(s, Consensus) == 0  # not before the third review
        submit_review(
            s,
            p,
            image=img,
            reviewer="cara",
            diagnosis="Benign:Benign melanocytic proliferations:Nevus",
            confidence=2,
        )
    assert _image(p, img)["verification_stage"] == "consensus"
    assert _image(p, img)["diagnosis"] == "MEL"
    with p.db.read() as s:
        cons = s.get(Consensus, _pk(s, img))
        assert (cons.status, cons.diagnosis, cons.n_reviews) == ("consensus", "MEL", 3)
        assert cons.agreement == pytest.approx(2 / 3)
        consensus_structures = (
            s.execute(
                select(StructureFinding.structure).where(StructureFinding.source == "consensus")
            )
            .scalars()
            .all()
        )
        assert consensus_structures == ["streaks"]  # 2 of 3 saw streaks, 1 of 3 the veil
        kinds = [b.kind for b in release_gate(s, p.protocol)]
        assert kinds == ["malignant_without_histopathology"]
        lesion = s.get(Image, _pk(s, img)).lesion.pseudonym
    with p.db.session() as s:
        entered = enter_histopathology(
            s,
            p,
            lesion=lesion,
            diagnosis="MEL",
            report_date="2026-03-02",
            entered_by="dr_path",
            lab_reference="H26/12345",
        )
    assert not entered.contradicts_consensus
    assert _image(p, img) == {
        "diagnosis": "MEL",
        "verification_stage": "histopathology",
        "diagnosis_confirm_type": "histopathology",
        "benign_malignant": "malignant",
    }
    with p.db.read() as s:
        assert release_gate(s, p.protocol) == []
        histo = s.execute(select(Histopathology)).scalar_one()
        assert histo.lab_reference == p.keys.lab_reference("H26/12345")
        assert "H26/12345" not in json.dumps(
            [e.changes for e in s.execute(select(AuditEvent)).scalars()]
        )
        # every label change of the image is in the audit log, and the chain is intact
        label_events = (
            s.execute(
                select(AuditEvent).where(AuditEvent.entity == "image", AuditEvent.action == "label")
            )
            .scalars()
            .all()
        )
        stages = [json.loads(e.changes)["verification_stage"][1] for e in label_events]
        assert stages == ["clinical", "consensus", "histopathology"]
        assert p.audit.verify(s) == []


def _pk(s, image_id):
    return s.execute(select(Image.id).where(Image.image_id == image_id)).scalar_one()


def _count(s, table, *where):
    return s.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_assignment_is_balanced_and_never_gives_an_image_to_its_clinician(project):
    images = simple_images(project, 30)
    pool = ["ana", "ben", "cara", "dan", "eve"]
    with project.db.session() as s:
        for n, img in enumerate(images):  # dan and eve are also clinicians of some images
            clinical_annotate(
                s,
                project,
                image=img,
                annotator=pool[3 + n % 2] if n % 3 == 0 else "dr_x",
                diagnosis="NV",
            )
        report = assign_reviewers(s, project, pool, actor="curator")
    assert report.assigned == 90 and report.images_completed == 30 and not report.skipped
    assert max(report.load.values()) - min(report.load.values()) <= 1
    with project.db.read() as s:
        per_image = Counter(s.execute(select(ReviewAssignment.image_id)).scalars())
        assert set(per_image.values()) == {3}
        for img in images:
            pk = _pk(s, img)
            assigned = set(
                s.execute(
                    select(ReviewAssignment.reviewer).where(ReviewAssignment.image_id == pk)
                ).scalars()
            )
            assert clinician_of(s, pk) not in assigned
    # assigning again changes nothing; too small a pool is refused with a clear message
    with project.db.session() as s:
        assert assign_reviewers(s, project, pool, actor="curator").assigned == 0
        with pytest.raises(VerificationError, match="3 reviewers per image but only 2"):
            assign_reviewers(s, project, ["ana", "ana", "ben"], actor="curator")


def test_reviewer_cannot_review_twice_unassigned_or_their_own_patient(project):
    a, b = simple_images(project, 2)
    with project.db.session() as s:
        clinical_annotate(s, project, image=a, annotator="ana", diagnosis="NV")
        with pytest.raises(VerificationError, match=r"annotated .* cannot review") as e:
            assign_reviewer(s, project, image=a, reviewer="ana", actor="curator")
        assert e.value.rule == "self_review"
        assign_reviewers(s, project, ["ben", "cara", "dan"], actor="curator", images=[a])
    with project.db.session() as s:
        submit_review(s, project, image=a, reviewer="ben", diagnosis="NV", confidence=5)
    for who, image, rule in (
        ("ben", a, "duplicate_review"),  # twice
        ("ana", a, "self_review"),  # their own clinical annotation
        ("eve", a, "not_assigned"),  # someone else's image
    ):
        with project.db.session() as s, pytest.raises(VerificationError) as e:
            submit_review(s, project, image=image, reviewer=who, diagnosis="MEL", confidence=3)
        assert e.value.rule == rule, who
    # an imported review may not slip past planned assignments either
    with project.db.session() as s, pytest.raises(VerificationError) as e:
        submit_review(
            s, project, image=a, reviewer="eve", diagnosis="MEL", confidence=3, imported=True
        )
    assert e.value.rule == "not_assigned"
    # a clinician who reviews an image cannot become its annotating clinician
    with project.db.session() as s:
        assign_reviewers(s, project, ["ben", "cara", "dan"], actor="curator", images=[b])
        with pytest.raises(VerificationError) as e:
            clinical_annotate(s, project, image=b, annotator="ben", diagnosis="NV")
        assert e.value.rule == "reviewer_annotates"
    with project.db.read() as s:
        assert _count(s, AuditEvent, AuditEvent.entity == "review") == 1


def test_disagreement_goes_to_adjudication_by_an_independent_curator(project):
    (img,) = simple_images(project, 1)
    with project.db.session() as s:
        clinical_annotate(s, project, image=img, annotator="dr_clin", diagnosis="BKL")
        assign_reviewers(s, project, PANEL, actor="curator")
    _reviews(project, img, ["MEL", "NV", "BKL"])
    assert _image(project, img)["verification_stage"] == "clinical"  # nothing decided yet
    with project.db.read() as s:
        assert [b.kind for b in release_gate(s, project.protocol)] == [
            "malignant_without_histopathology",  # a reviewer said MEL
            "open_adjudication",
        ]
        assert verification_status(s, project.protocol)["open_adjudications"] == 1
    bad = [
        (dict(adjudicator="ana", role="curator", reason="x"), "adjudicator_involved"),
        (dict(adjudicator="dr_clin", role="curator", reason="x"), "adjudicator_involved"),
        (dict(adjudicator="boss", role="reviewer", reason="x"), "wrong_role"),
        (dict(adjudicator="boss", role="curator", reason="  "), "missing_reason"),
    ]
    for kwargs, rule in bad:
        with project.db.session() as s, pytest.raises(VerificationError) as e:
            adjudicate(s, project, image=img, diagnosis="BKL", **kwargs)
        assert e.value.rule == rule
    with project.db.session() as s:
        adjudicate(
            s,
            project,
            image=img,
            adjudicator="boss",
            diagnosis="seborrheic keratosis",
            reason="milia-like cysts and comedo-like openings",
            role="curator",
        )
    assert _image(project, img)["verification_stage"] == "adjudicated"
    assert _image(project, img)["diagnosis"] == "BKL"
    with project.db.session() as s, pytest.raises(VerificationError) as e:
        adjudicate(
            s,
            project,
            image=img,
            adjudicator="boss",
            diagnosis="NV",
            reason="again",
            role="curator",
        )
    assert e.value.rule == "not_in_adjudication"
    with project.db.read() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "adjudicate")).scalar_one()
        assert ev.actor == "boss"
        assert json.loads(ev.changes)["reason"][1].startswith("milia-like")


def test_histopathology_that_contradicts_the_consensus_overrides_it_and_is_flagged(project):
    imgs = simple_images(project, 1, per_lesion=2)  # one lesion, two images
    with project.db.session() as s:
        assign_reviewers(s, project, PANEL, actor="curator")
    _reviews(project, imgs[0], ["NV", "NV", "MEL"])
    _reviews(project, imgs[1], ["NV", "NV", "NV"])
    assert {_image(project, i)["verification_stage"] for i in imgs} == {"consensus"}
    with project.db.read() as s:
        (blocker,) = release_gate(s, project.protocol)
        assert "reviewer cara: MEL" in blocker.detail
    with project.db.session() as s:  # named by the site's own lesion id
        entered = enter_histopathology(
            s,
            project,
            lesion="L0000",
            diagnosis="melanoma in situ",
            report_date="2026-02-01",
            entered_by="dr_path",
        )
    assert entered.contradicts_consensus
    assert set(entered.overridden) == set(imgs)
    for i in imgs:
        assert _image(project, i)["diagnosis"] == "MEL"
        assert _image(project, i)["verification_stage"] == "histopathology"
    with project.db.read() as s:
        assert s.execute(select(Histopathology.contradicts_consensus)).scalar() is True
        assert verification_status(s, project.protocol)["histopathology_overrides"] == 1
        assert release_gate(s, project.protocol) == []
    # a second, different result is refused unless amended explicitly
    with project.db.session() as s, pytest.raises(VerificationError) as e:
        enter_histopathology(
            s,
            project,
            lesion="L0000",
            diagnosis="NV",
            report_date="2026-02-01",
            entered_by="dr_path",
        )
    assert e.value.rule == "duplicate_histopathology"
    with project.db.session() as s:
        enter_histopathology(
            s,
            project,
            lesion="L0000",
            diagnosis="NV",
            report_date="2026-02-03",
            entered_by="dr_path",
            amend=True,
        )
    assert _image(project, imgs[0])["diagnosis"] == "NV"
    with project.db.read() as s:
        assert s.execute(select(Histopathology.contradicts_consensus)).scalar() is False


def test_release_gate_lists_open_and_incomplete_reviews(project):
    a, b = simple_images(project, 2)
    with project.db.session() as s:
        assign_reviewers(s, project, PANEL, actor="curator", images=[a])
        submit_review(s, project, image=a, reviewer="ana", diagnosis="NV", confidence=4)
        # a review made outside dermset records its own (single) assignment
        submit_review(
            s, project, image=b, reviewer="dan", diagnosis="NV", confidence=None, imported=True
        )
    with project.db.read() as s:
        gate = release_gate(s, project.protocol)
        st = verification_status(s, project.protocol)
    assert [(x.kind, x.ref) for x in gate] == [("open_review", a), ("incomplete_review", b)]
    assert "ben, cara" in gate[0].detail
    assert st["open_reviews"] == 2 and st["release_blocked"] is True


def test_imported_stages_are_kept_until_the_workflow_is_stronger(project, shared_data):
    """Real HAM10000 rows: histo, follow_up, consensus and confocal labels as HAM states them."""
    import csv

    wanted = {"histo": 1, "follow_up": 1, "consensus": 1, "confocal": 1}
    rows = []
    with (shared_data / "tables" / "ham10000" / "HAM10000_metadata.csv").open() as fh:
        for row in csv.DictReader(fh):
            if wanted.get(row["dx_type"], 0) and row["dx"] not in ("mel", "bcc"):
                wanted[row["dx_type"]] -= 1
                rows.append(row)
    assert len(rows) == 4
    ids = make_images(project, rows, mapping="ham10000")
    by_type = {r["dx_type"]: ids[r["image_id"]] for r in rows}
    stated = {t: _image(project, i) for t, i in by_type.items()}
    assert stated["histo"]["verification_stage"] == "histopathology"
    assert stated["follow_up"]["verification_stage"] == "follow-up"
    with project.db.session() as s:
        assign_reviewers(s, project, PANEL, actor="curator")
    for i in by_type.values():
        _reviews(project, i, ["DF", "DF", "DF"])  # unanimous, and different from HAM's label
    after = {t: _image(project, i) for t, i in by_type.items()}
    # consensus (rank 2) does not replace histopathology, follow-up, confocal, nor a stated
    # consensus (a tie keeps the stated label)
    for t in ("histo", "follow_up", "confocal", "consensus"):
        assert after[t] == stated[t], t
    # histopathology entered in dermset replaces every stated label
    with project.db.session() as s:
        for i in by_type.values():
            lesion = s.get(Image, _pk(s, i)).lesion.pseudonym
            enter_histopathology(
                s,
                project,
                lesion=lesion,
                diagnosis="DF",
                report_date="2026-01-10",
                entered_by="dr_path",
            )
    for t, i in by_type.items():
        got = _image(project, i)
        assert (got["diagnosis"], got["verification_stage"]) == ("DF", "histopathology"), t


def test_reimporting_the_metadata_table_keeps_the_workflow_label(project):
    from dermset.registry.verification_tables import SourceLabel

    rows = [
        {
            "isic_id": "S1",
            "lesion_id": "L1",
            "age_approx": 40,
            "diagnosis": "nevus",
            "diagnosis_confirm_type": "single contributor clinical assessment",
        }
    ]
    ids = make_images(project, rows)
    with project.db.session() as s:
        assign_reviewers(s, project, PANEL, actor="curator")
    _reviews(project, ids["S1"], ["BKL", "BKL", "NV"])
    assert _image(project, ids["S1"])["verification_stage"] == "consensus"
    make_images(project, rows)  # the same table again: nothing changes
    assert _image(project, ids["S1"])["diagnosis"] == "BKL"
    rows[0]["diagnosis"] = "dermatofibroma"  # the source restates its label
    make_images(project, rows)
    assert _image(project, ids["S1"])["diagnosis"] == "BKL"
    with project.db.read() as s:
        assert s.execute(select(SourceLabel.diagnosis)).scalar() == "DF"
        assert _count(s, AuditEvent, AuditEvent.entity == "source_label") == 1


def test_label_file_import_is_all_or_nothing_on_sqlite_and_postgresql(any_project, tmp_path):
    p = any_project
    a, b = simple_images(p, 2)
    good = {"image_id": a, "annotator": "ana", "diagnosis": "NV", "confidence": "4"}
    bad = {"image_id": b, "annotator": "ana", "diagnosis": "XYZ", "confidence": "4"}
    report = import_labels(p, write_csv(tmp_path / "r.csv", [good, bad]), "review", actor="t")
    assert not report.committed and [e.row for e in report.errors] == [3]
    with p.db.read() as s:
        assert (
            _count(s, ReviewAssignment) == 0
            and _count(s, AuditEvent, AuditEvent.entity == "review") == 0
        )
    report = import_labels(p, write_csv(tmp_path / "r.csv", [good]), "review", actor="t")
    assert report.committed and report.created == 1
    with p.db.read() as s:
        assert _count(s, ReviewAssignment, ReviewAssignment.origin == "import") == 1
        assert p.audit.verify(s) == []
