"""The web app's work flows against the real core: capture with SOP feedback and stage 1, SOP
overrides, duplicate-group review, histopathology and adjudication errors, and concurrent saves
of reviews on SQLite and PostgreSQL (no review lost, none doubled)."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from dermset.ingest.dedup import resolve_duplicates
from dermset.registry.tables import (
    AuditEvent,
    ClinicalAnnotation,
    Consensus,
    Image,
    Review,
)
from dermset.registry.user_tables import WebUpload
from e2e.webkit import (
    CSRF,
    IMAGE_IDS,
    PASSWORD,
    Browserless,
    annotate,
    app_for,
    capture_fields,
    cheap_hashing,
    cohort,
    live_server,
    make_project,
    photographs,
    planted_pair,
    review,
    too_small,
)


@pytest.fixture
def study(tmp_path):
    with cheap_hashing():
        project = make_project(tmp_path / "study")
        yield project, app_for(project)
        project.close()


def _status(project) -> dict[str, str]:
    with project.db.read() as s:
        return dict(s.execute(select(Image.image_id, Image.status)).all())


def _events(project, **where) -> list[dict]:
    with project.db.read() as s:
        q = select(
            AuditEvent.actor,
            AuditEvent.entity,
            AuditEvent.entity_key,
            AuditEvent.action,
            AuditEvent.changes,
        )
        for k, v in where.items():
            q = q.where(getattr(AuditEvent, k) == v)
        return [
            {"actor": a, "entity": e, "key": k, "action": act, "changes": json.loads(c)}
            for a, e, k, act, c in s.execute(q.order_by(AuditEvent.seq))
        ]


def test_capture_gives_per_photo_verdicts_and_records_stage_one(study, tmp_path):
    project, app = study
    root = cohort(tmp_path)
    good = photographs(root)[:2]
    clara = Browserless(app, "clara")
    r = clara.post(
        "/capture",
        capture_fields(patient="MRN-7", lesion="L3"),
        files=[
            *(("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in good),
            # another lesion's photograph, shrunk (a shrunk copy of good[0] would be a duplicate)
            ("photos", ("IMG_0099.JPG", too_small(photographs(root)[4]), "image/jpeg")),
        ],
    )
    assert r.status_code == 200
    assert r.text.count("Meets the SOP") + r.text.count("Usable, with a remark") == 2
    assert "image too small" in r.text and "retake: use the camera at full resolution" in r.text
    ids = IMAGE_IDS.findall(r.text)
    assert len(ids) == 2  # only the usable photographs are offered for stage 1
    statuses = _status(project)
    assert sorted(statuses.values()) == ["active", "active", "sop_failed"]
    with project.db.read() as s:
        uploaded = set(s.execute(select(WebUpload.uploader)).scalars())
        lesions = set(s.execute(select(Image.lesion_id)).scalars())
    assert uploaded == {"clara"} and len(lesions) == 1  # one lesion, as the form said

    r = annotate(clara, ids, "NV", note="regular network", structures=["pigment_network"])
    assert r.status_code == 200 and "Stage 1 recorded" in r.text
    with project.db.read() as s:
        rows = s.execute(select(ClinicalAnnotation.annotator, ClinicalAnnotation.diagnosis)).all()
    assert sorted(rows) == [("clara", "NV"), ("clara", "NV")]
    created = _events(project, entity="clinical_annotation")
    assert {e["actor"] for e in created} == {"clara"} and len(created) == 2
    # a correction before any review is allowed and audited
    assert annotate(clara, ids, "BKL").status_code == 200
    assert {e["action"] for e in _events(project, entity="clinical_annotation")} == {
        "create",
        "update",
    }
    # nothing of the browser's file names or the local patient id reached the registry
    with project.db.read() as s:
        text = " ".join(
            str(v)
            for row in s.execute(select(AuditEvent.changes, AuditEvent.entity_key)).all()
            for v in row
        )
    assert "IMG_0099" not in text and good[0].name not in text and "MRN-7" not in text

    # the same photograph again: recognised, nothing new
    before = len(statuses)
    r = clara.post(
        "/capture",
        capture_fields(patient="MRN-7", lesion="L3"),
        files=[("photos", (good[0].name, good[0].read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 200
    assert "Already in the registry" in r.text or "uploaded before" in r.text
    assert len(_status(project)) <= before + 1
    # the capture page lists the clinician's own recent captures
    page = clara.get("/capture").text
    assert all(i in page for i in ids) and "stage 1: BKL" in page


def test_iphone_heic_upload_is_shown_to_browsers(study, tmp_path):
    """A HEIC capture (what an iPhone's camera saves) is taken in and displayed as JPEG/PNG."""
    _, app = study
    truth = json.loads((cohort(tmp_path) / "truth.json").read_text())
    heic = next(i for i in truth["images"] if i["format"] == "heic")
    data = (cohort(tmp_path) / "images" / heic["filename"]).read_bytes()
    clara = Browserless(app, "clara")
    r = clara.post(
        "/capture",
        capture_fields(lesion="L8"),
        files=[("photos", ("IMG_4410.HEIC", data, "image/heic"))],
    )
    assert r.status_code == 200
    (image_id,) = IMAGE_IDS.findall(r.text)
    for size, kinds in (("full", {"image/png", "image/jpeg"}), ("thumb", {"image/jpeg"})):
        shown = clara.get(f"/images/{image_id}?size={size}")
        assert shown.status_code == 200 and shown.headers["content-type"] in kinds
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(shown.content)) as im:
            assert im.width > 100 and im.height > 100


def test_stage_one_closes_when_review_starts(study, tmp_path):
    _, app = study
    clara, kurt, anna = (Browserless(app, n) for n in ("clara", "kurt", "anna"))
    r = clara.post(
        "/capture",
        capture_fields(),
        files=[
            ("photos", (p.name, p.read_bytes(), "image/jpeg"))
            for p in photographs(cohort(tmp_path))[:1]
        ],
    )
    (image_id,) = IMAGE_IDS.findall(r.text)
    annotate(clara, [image_id], "MEL")
    assert kurt.post("/curator/assign", {"reviewer": ["anna", "ben", "cora"]}).status_code == 303
    assert review(anna, image_id, "MEL").status_code == 303
    r = annotate(clara, [image_id], "NV")
    assert r.status_code == 422 and "stage 1 of" in r.text and "is closed" in r.text
    # another clinician cannot annotate clara's photographs
    r = annotate(Browserless(app, "cleo"), [image_id], "NV")
    assert r.status_code == 422 and "choose at least one of your photographs" in r.text


def test_sop_override_needs_a_reason_and_is_audited(study, tmp_path):
    project, app = study
    clara, kurt = Browserless(app, "clara"), Browserless(app, "kurt")
    photo = photographs(cohort(tmp_path))[2]
    clara.post(
        "/capture",
        capture_fields(),
        files=[("photos", ("small.jpg", too_small(photo), "image/jpeg"))],
    )
    (failed,) = [i for i, st in _status(project).items() if st == "sop_failed"]
    page = kurt.get("/curator/sop").text
    assert failed in page and "image too small" in page
    r = kurt.post(f"/curator/sop/{failed}", {"reason": "  "})
    assert r.status_code == 422 and "needs a reason" in r.text
    assert _status(project)[failed] == "sop_failed"
    reason = "lesion excised the same day; no retake possible"
    assert kurt.post(f"/curator/sop/{failed}", {"reason": reason}).status_code == 303
    assert _status(project)[failed] == "active"
    (event,) = _events(project, action="sop_override")
    assert event["actor"] == "kurt" and event["changes"]["reason"] == [None, reason]
    assert event["changes"]["status"] == ["sop_failed", "active"]
    assert reason in kurt.get("/curator/sop").text  # listed with the overrides
    r = kurt.post(f"/curator/sop/{failed}", {"reason": reason})
    assert r.status_code == 422 and "not excluded by the SOP" in r.text


def test_duplicate_groups_confirm_and_split(study, tmp_path):
    project, app = study
    root = cohort(tmp_path)
    source, copy = planted_pair(root, "jpeg_reencode")
    other_source, flipped = planted_pair(root, "flipped")
    clara, kurt = Browserless(app, "clara"), Browserless(app, "kurt")
    data = source.read_bytes()
    r = clara.post(
        "/capture",
        capture_fields(lesion="L5"),
        files=[
            ("photos", ("a.jpg", data, "image/jpeg")),
            ("photos", ("b.jpg", data, "image/jpeg")),  # the same photograph twice
            ("photos", ("c.jpg", copy.read_bytes(), "image/jpeg")),
        ],
    )
    assert r.status_code == 200 and "Already in the registry" in r.text
    clara.post(
        "/capture",
        capture_fields(lesion="L6"),
        files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in (other_source, flipped)],
    )
    statuses = _status(project)
    assert list(statuses.values()).count("duplicate") == 3, statuses
    page = kurt.get("/curator/duplicates").text
    assert "identical pixels" in page and "near copy" in page and "evidence:" in page
    with project.db.read() as s:
        rows = s.execute(
            select(Image.image_id, Image.duplicate_of, Image.pixel_sha256, Image.status)
        ).all()
    by_pk = {r[0]: r for r in rows}
    kept_pk = {r[1] for r in rows if r[3] == "duplicate"}
    with project.db.read() as s:
        kept_ids = set(s.execute(select(Image.image_id).where(Image.id.in_(kept_pk))).scalars())
    exact = next(
        i
        for i, r in by_pk.items()
        if r[3] == "duplicate" and any(k[2] == r[2] for k in rows if k[0] in kept_ids)
    )
    near = next(
        i
        for i, r in by_pk.items()
        if r[3] == "duplicate"
        and i != exact
        and not any(k[2] == r[2] for k in rows if k[0] in kept_ids)
    )
    r = kurt.post(f"/curator/duplicates/{exact}/split", {"reason": "looks different"})
    assert r.status_code == 422 and "same photograph" in r.text
    r = kurt.post(f"/curator/duplicates/{near}/split", {"reason": ""})
    assert r.status_code == 422 and "needs a reason" in r.text
    r = kurt.post(f"/curator/duplicates/{near}/split", {"reason": "a second lesion nearby"})
    assert r.status_code == 303
    assert _status(project)[near] == "active"
    (split,) = _events(project, action="duplicate_split")
    assert split["actor"] == "kurt" and split["key"] == near
    # the duplicate search respects the curator's split when it runs again
    with project.db.read() as s:
        pks = list(s.execute(select(Image.id)).scalars())
    resolve_duplicates(project, actor="test", image_ids=pks)
    assert _status(project)[near] == "active"
    # confirming a group records it and takes it off the to-do list
    group = next(iter(kept_ids))
    assert kurt.post(f"/curator/duplicates/{group}/confirm").status_code == 303
    confirmed = _events(project, entity="duplicate_group", action="confirm")
    assert confirmed and confirmed[0]["actor"] == "kurt"
    assert "confirmed by kurt" in kurt.get("/curator/duplicates").text


def _reviewed_lesion(app, tmp_path, calls: dict[str, str], n_photos: int = 1):
    clara, kurt = Browserless(app, "clara"), Browserless(app, "kurt")
    r = clara.post(
        "/capture",
        capture_fields(),
        files=[
            ("photos", (p.name, p.read_bytes(), "image/jpeg"))
            for p in photographs(cohort(tmp_path))[:n_photos]
        ],
    )
    ids = IMAGE_IDS.findall(r.text)
    annotate(clara, ids, "NV")
    kurt.post("/curator/assign", {"reviewer": list(calls)})
    for name, dx in calls.items():
        c = Browserless(app, name)
        for i in ids:
            assert review(c, i, dx).status_code == 303
    return ids, kurt


def test_adjudication_and_histopathology_refuse_bad_input(study, tmp_path):
    project, app = study
    (image_id,), kurt = _reviewed_lesion(app, tmp_path, {"anna": "MEL", "ben": "NV", "cora": "BCC"})
    r = kurt.post(f"/curator/adjudication/{image_id}", {"diagnosis": "MEL", "reason": ""})
    assert r.status_code == 422 and "needs a reason" in r.text
    r = kurt.post(f"/curator/adjudication/{image_id}", {"diagnosis": "melanom", "reason": "x"})
    assert r.status_code == 422 and "did you mean" in r.text
    r = kurt.post(f"/curator/adjudication/{image_id}", {"diagnosis": "MEL", "reason": "veil"})
    assert r.status_code == 303
    r = kurt.post(f"/curator/adjudication/{image_id}", {"diagnosis": "NV", "reason": "again"})
    assert r.status_code == 422 and "not waiting for adjudication" in r.text

    pia = Browserless(app, "pia")
    lesion = re.search(r'href="/pathology/(LES_\w+)"', pia.get("/pathology").text).group(1)
    future = (date.today() + timedelta(days=3)).isoformat()
    r = pia.post(f"/pathology/{lesion}", {"diagnosis": "MEL", "report_date": future})
    assert r.status_code == 422 and "in the future" in r.text
    r = pia.post(f"/pathology/{lesion}", {"diagnosis": "MEL", "report_date": "3/4/2025"})
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    r = pia.post(f"/pathology/{lesion}", {"diagnosis": "MEL", "report_date": "2025-03-04"})
    assert r.status_code == 303
    r = pia.post(f"/pathology/{lesion}", {"diagnosis": "BCC", "report_date": "2025-03-05"})
    assert r.status_code == 422 and "amend it explicitly" in r.text
    r = pia.post(
        f"/pathology/{lesion}",
        {"diagnosis": "BCC", "report_date": "2025-03-05", "amend": "yes"},
    )
    assert r.status_code == 303
    assert {e["action"] for e in _events(project, entity="histopathology")} == {"create", "amend"}
    assert pia.get("/pathology/LES_0000000000000000").status_code == 404


def _client(base: str, name: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=base, timeout=60)
    page = c.get("/login")
    nonce = CSRF.search(page.text).group(1)
    r = c.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": nonce})
    assert r.status_code == 303
    return c, CSRF.search(c.get("/review").text).group(1)


def _at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    gate = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def run(i, fn):
        gate.wait()
        out[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_racing_saves_lose_nothing_and_double_nothing(any_project, tmp_path):
    """Two saves of the same review at once (a double click, two tabs) give one review; the
    last two reviewers of an image saving at once close its consensus once."""
    with cheap_hashing():
        _race(any_project, tmp_path)


def _race(project, tmp_path):
    from dermset.web.accounts import add_user
    from e2e.webkit import USERS

    with project.db.session() as s:
        for name, role in USERS.items():
            add_user(s, project, name, role, PASSWORD, actor="test")
    app = app_for(project)
    clara, kurt = Browserless(app, "clara"), Browserless(app, "kurt")
    photos = photographs(cohort(tmp_path))[:4]
    r = clara.post(
        "/capture",
        capture_fields(),
        files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in photos],
    )
    ids = IMAGE_IDS.findall(r.text)
    assert len(ids) == 4
    annotate(clara, ids, "NV")
    kurt.post("/curator/assign", {"reviewer": ["anna", "ben", "cora"]})
    with live_server(app) as base:
        anna_a, csrf_a = _client(base, "anna")
        anna_b, csrf_b = _client(base, "anna")
        ben, csrf_ben = _client(base, "ben")
        cora, csrf_cora = _client(base, "cora")
        for image_id in ids:
            url = f"/review/{image_id}"
            first, second = _at_once(
                lambda u=url: anna_a.post(
                    u, data={"csrf_token": csrf_a, "diagnosis": "NV", "confidence": "3"}
                ),
                lambda u=url: anna_b.post(
                    u, data={"csrf_token": csrf_b, "diagnosis": "NV", "confidence": "3"}
                ),
            )
            assert sorted([first.status_code, second.status_code]) == [303, 409]
            b, c = _at_once(
                lambda u=url: ben.post(
                    u, data={"csrf_token": csrf_ben, "diagnosis": "NV", "confidence": "4"}
                ),
                lambda u=url: cora.post(
                    u, data={"csrf_token": csrf_cora, "diagnosis": "MEL", "confidence": "2"}
                ),
            )
            assert (b.status_code, c.status_code) == (303, 303)
        for client in (anna_a, anna_b, ben, cora):
            client.close()
    with project.db.read() as s:
        per_pair = s.execute(
            select(Review.image_id, Review.reviewer, func.count()).group_by(
                Review.image_id, Review.reviewer
            )
        ).all()
        consensus = s.execute(select(Consensus.status, Consensus.n_reviews)).all()
    assert len(per_pair) == 12 and all(n == 1 for *_, n in per_pair)
    assert sorted(consensus) == [("consensus", 3)] * 4
    submits = _events(project, entity="review", action="submit")
    assert len(submits) == 12
    with project.db.read() as s:
        assert project.audit.verify(s) == []
