"""A small study through the web app in a real headless Chromium (Debian's, driven by Playwright).

A clinician on a phone uploads photographs of a lesion, sees each one's SOP verdict, and records
the stage-1 diagnosis; the curator assigns three reviewers; each works the blinded queue with
the keyboard; their disagreement on one image goes to adjudication and is decided; the
pathologist enters the histopathology the melanoma calls require; the curator sees the release
gate open. Every page is saved as a screenshot under tests/e2e/screenshots/ (not in git).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import skip_or_fail
from dermset.ingest.upload import UploadFile, ingest_upload
from dermset.registry.tables import Consensus, Histopathology, Image, Review
from e2e.webkit import (
    PASSWORD,
    app_for,
    capture_fields,
    cheap_hashing,
    cohort,
    live_server,
    make_project,
    photographs,
    planted_pair,
    too_small,
)

CHROMIUM = os.environ.get("DERMSET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parent / "screenshots"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESK = {"viewport": {"width": 1366, "height": 900}}
#: each reviewer's diagnosis of the three photographs: image 2 gets MEL / NV / BCC (no 2 of 3)
CALLS = {"anna": ["MEL", "MEL", "MEL"], "ben": ["MEL", "NV", "MEL"], "cora": ["MEL", "BCC", "NV"]}
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed")
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Debian's chromium is not installed at {CHROMIUM}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Shots:
    def __init__(self):
        SHOTS.mkdir(exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()
        self.n = 0
        self.taken: list[Path] = []

    def __call__(self, page, name: str, *, full_page: bool = True) -> None:
        self.n += 1
        path = SHOTS / f"{self.n:02d}-{name}.png"
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)


def sign_in(browser, base: str, name: str, device=DESK, *, shots=None, shot_name=""):
    ctx = browser.new_context(**device)
    page = ctx.new_page()
    page.on("request", lambda req: page.requested.append(req.url))
    page.requested = []
    page.goto(base + "/")
    if shots and shot_name:
        shots(page, shot_name)
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_load_state("load")
    return ctx, page


def test_a_study_through_the_browser(chromium, tmp_path):
    shots = Shots()
    with cheap_hashing():
        root = cohort(tmp_path)
        good = photographs(root)[:3]
        project = make_project(tmp_path / "study")
    small = tmp_path / "IMG_2044.JPG"
    small.write_bytes(too_small(photographs(root)[3]))
    app = app_for(project)
    with cheap_hashing(), live_server(app) as base:
        # -- the clinician, on a phone ------------------------------------------------------
        ctx, page = sign_in(chromium, base, "clara", PHONE, shots=shots, shot_name="login-phone")
        assert page.url.endswith("/capture")
        shots(page, "capture-form-phone")
        fields = capture_fields(patient="MRN-2231", lesion="L1")
        page.fill("#f-patient_id", fields["patient_id"])
        page.fill("#f-lesion_id", fields["lesion_id"])
        page.fill("#f-age", fields["age"])
        page.select_option("#f-sex", fields["sex"])
        page.select_option("#f-fitzpatrick_skin_type", fields["fitzpatrick_skin_type"])
        page.select_option("#f-anatom_site_general", fields["anatom_site_general"])
        page.fill("#f-clin_size_long_diam_mm", fields["clin_size_long_diam_mm"])
        page.set_input_files("#photos", [str(p) for p in [*good, small]])
        assert page.locator("#previews li").count() == 4
        shots(page, "capture-photos-chosen-phone")
        page.click("button:has-text('Upload and check')")
        page.wait_for_selector("h1:has-text('SOP check')", timeout=60_000)
        shots(page, "sop-feedback-phone")
        results = page.locator(".result")
        assert results.count() == 4
        assert page.locator(".result.fail").count() == 1
        retake = page.locator(".result.fail").inner_text()
        assert "Retake" in retake and "image too small" in retake and "IMG_2044.JPG" in retake
        assert page.locator(".result.ok, .result.warn").count() == 3
        # stage 1: the clinical diagnosis for the three usable photographs
        assert page.locator("input[name=image_id]:checked").count() == 3
        page.click("label.choice:has-text('melanoma')")
        page.click("summary:has-text('Dermoscopic structures seen')")
        page.check("input[value=atypical_network]")
        page.check("input[value=blue_white_veil]")
        page.fill("#note", "Changing lesion per patient; excision planned.")
        shots(page, "stage1-form-phone")
        page.click("button:has-text('Record clinical diagnosis')")
        page.wait_for_selector("h1:has-text('Stage 1 recorded')")
        shots(page, "stage1-recorded-phone")
        page.goto(base + "/capture")
        shots(page, "capture-recent-phone")
        elsewhere = [u for u in page.requested if not u.startswith((base, "blob:", "data:"))]
        assert elsewhere == []  # nothing from another host
        ctx.close()

        with project.db.read() as s:
            active = list(
                s.execute(
                    select(Image.image_id).where(Image.status == "active").order_by(Image.id)
                ).scalars()
            )
            failed = s.execute(select(Image.image_id).where(Image.status == "sop_failed")).all()
        assert len(active) == 3 and len(failed) == 1

        # -- the curator assigns three reviewers -----------------------------------------
        cur_ctx, cur = sign_in(chromium, base, "kurt")
        assert cur.url.endswith("/curator")
        shots(cur, "dashboard-before-review")
        for name in ("dan",):  # only three of the four reviewer accounts take part
            cur.uncheck(f"input[name=reviewer][value={name}]")
        cur.click("button:has-text('reviewers')")
        cur.wait_for_selector("text=9 review assignments made")
        shots(cur, "dashboard-assigned")

        # -- three reviewers work their blinded queues -------------------------------------
        codes = [d.code for d in project.protocol.categories]
        for name, calls in CALLS.items():
            rctx, rp = sign_in(chromium, base, name)
            assert rp.url.endswith("/review")
            if name == "anna":
                shots(rp, "review-queue")
            with rp.expect_navigation():
                rp.click("a:has-text('Start reviewing')")
            for n, code in enumerate(calls):
                rp.wait_for_load_state("load")
                rp.wait_for_selector("#review-form")
                if name == "anna" and n == 0:
                    shots(rp, "review-item", full_page=False)
                image_id = rp.locator("h1.id-title").inner_text()
                assert image_id == active[n]
                assert "Changing lesion" not in rp.content()  # the clinician's note is blinded
                rp.locator(".viewport").focus()
                rp.keyboard.press(str(codes.index(code) + 1))  # diagnosis by its number key
                rp.keyboard.press("Shift+Digit4")  # confidence 4
                if n == 0:
                    rp.check("input[name=structure][value=atypical_network]")
                    rp.keyboard.press("+")
                    rp.keyboard.press("+")
                    if name == "anna":  # the viewport only: a full-page shot resizes (= fit)
                        assert rp.inner_text(".zoom-level") != "fit"
                        shots(rp, "review-item-zoomed", full_page=False)
                    rp.keyboard.press("0")
                assert rp.locator(f"input[name=diagnosis][value={code}]").is_checked()
                assert rp.locator("input[name=confidence][value='4']").is_checked()
                with rp.expect_navigation():
                    rp.keyboard.press("Control+Enter")
            rp.wait_for_selector("text=Queue complete")
            if name == "cora":
                shots(rp, "review-queue-complete")
                rp.goto(f"{base}/review/{active[0]}")
                shots(rp, "review-item-after-consensus")
                assert "Consensus" in rp.content()
            rctx.close()

        with project.db.read() as s:
            assert len(s.execute(select(Review.id)).all()) == 9
            status = dict(
                s.execute(
                    select(Image.image_id, Consensus.status).join(
                        Consensus, Consensus.image_id == Image.id
                    )
                ).all()
            )
        assert status == {
            active[0]: "consensus",
            active[1]: "adjudication",
            active[2]: "consensus",
        }

        # -- the curator adjudicates the disagreement --------------------------------------
        cur.goto(base + "/curator/adjudication")
        shots(cur, "adjudication-list")
        cur.click(f"a.thumb-card:has-text('{active[1]}')")
        cur.wait_for_selector(".reviews")
        assert cur.locator(".review-card").count() == 3
        side = cur.locator(".reviews").inner_text()
        assert "melanoma" in side and "nevus" in side and "basal cell carcinoma" in side
        cur.select_option("#diagnosis", "MEL")
        cur.fill("#reason", "Atypical network and blue-white veil outweigh the regular globules.")
        shots(cur, "adjudication-three-reviews")
        cur.click("button:has-text('Record decision')")
        cur.wait_for_selector(f"text=Decision recorded for {active[1]}")
        cur.goto(base + "/curator")
        assert "Release gate: blocked" in cur.content()
        shots(cur, "dashboard-waiting-for-histopathology")

        # -- the pathologist enters histopathology -------------------------------------------
        pctx, pp = sign_in(chromium, base, "pia")
        assert pp.url.endswith("/pathology")
        shots(pp, "pathology-awaiting")
        pp.click("a:has-text('Enter result')")
        pp.wait_for_selector("#report_date")
        pp.select_option("#diagnosis", "MEL")
        pp.fill("#report_date", date.today().isoformat())
        pp.fill("#lab_reference", "HP-24-18817")
        shots(pp, "pathology-entry")
        pp.click("button:has-text('Save result')")
        pp.wait_for_selector("text=No lesion is waiting for histopathology")
        shots(pp, "pathology-done")
        pctx.close()

        # -- the release gate is open ------------------------------------------------------
        cur.goto(base + "/curator")
        assert "Release gate: open" in cur.content()
        shots(cur, "dashboard-release-gate-open")
        # another clinician's photograph and a re-encoded copy of it: a duplicate group
        source, copy = planted_pair(root, "jpeg_reencode")
        report = ingest_upload(
            project,
            [UploadFile("a.jpg", source.read_bytes()), UploadFile("b.jpg", copy.read_bytes())],
            capture_fields(patient="MRN-9", lesion="L2"),
            actor="cleo",
        )
        assert [f.outcome for f in report.files] == ["recorded", "duplicate"]
        for url, name in (
            ("/curator/sop", "sop-exclusions"),
            ("/curator/duplicates", "duplicates"),
            ("/curator/quarantine", "quarantine"),
        ):
            cur.goto(base + url)
            shots(cur, name)
        cur.goto(base + "/curator/duplicates")
        cur.click("button:has-text('Confirm group')")
        cur.wait_for_selector("text=confirmed by kurt")
        cur_ctx.close()
        actx, ap = sign_in(chromium, base, "ada")
        shots(ap, "admin-accounts")
        actx.close()

    with project.db.read() as s:
        histo = s.execute(select(Histopathology.diagnosis, Histopathology.lab_reference)).one()
        stages = dict(
            s.execute(
                select(Image.image_id, Image.verification_stage).where(Image.image_id.in_(active))
            ).all()
        )
    assert histo[0] == "MEL" and histo[1] != "HP-24-18817"  # only a keyed hash is stored
    assert stages == dict.fromkeys(active, "histopathology")
    assert len(shots.taken) >= 20 and all(p.stat().st_size > 10_000 for p in shots.taken)
    project.close()
