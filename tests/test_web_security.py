"""Security of the web app: the route x role matrix, CSRF, blinding, image access by id only,
oversized and non-image uploads, session fixation, response headers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from dermset.registry.tables import Image, Lesion, Quarantine
from dermset.web.sessions import COOKIE
from e2e.webkit import (
    Browserless,
    annotate,
    app_for,
    capture_fields,
    cheap_hashing,
    cohort,
    make_project,
    photographs,
    review,
    upload,
)

ROLES = ("clinician", "reviewer", "pathologist", "curator", "admin")
#: who may enter which part of the app (the issue's roles and their work)
ALLOWED = {
    "/capture": {"clinician"},
    "/review": {"reviewer"},
    "/pathology": {"pathologist", "curator"},
    "/curator": {"curator"},
    "/admin": {"admin"},
}
ACCOUNT = {
    "clinician": "clara",
    "reviewer": "anna",
    "pathologist": "pia",
    "curator": "kurt",
    "admin": "ada",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A study with one uploaded, annotated and assigned lesion of three photographs."""
    with cheap_hashing():
        base = tmp_path_factory.mktemp("websec")
        photos = photographs(cohort(base))[:3]
        project = make_project(base / "study")
        app = app_for(project, max_file_mb=1, max_request_mb=3, max_files=5)
        clara = Browserless(app, "clara")
        r = upload(clara, photos, capture_fields())
        assert r.status_code == 200, r.text[:500]
        ids = re.findall(r'name="image_id" value="([^"]+)"', r.text)
        assert len(ids) == 3
        assert annotate(clara, ids, "SCC", note="CLINICAL-NOTE-7731", structures=["rosettes"])
        kurt = Browserless(app, "kurt")
        r = kurt.post("/curator/assign", {"reviewer": ["anna", "ben", "cora"]})
        assert r.status_code == 303
        with project.db.read() as s:
            lesion = s.execute(select(Lesion.pseudonym)).scalar()
        yield {"project": project, "app": app, "ids": ids, "lesion": lesion}
        project.close()


def _routes(app):
    """(method, path) of every route of the app, through included routers."""
    out = []

    def walk(routes):
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif hasattr(r, "methods") and r.methods:
                out.extend((m, r.path) for m in sorted(r.methods) if m != "HEAD")

    walk(app.routes)
    return sorted(set(out))


def _concrete(path: str, world) -> str:
    return (
        path.replace("{image_id}", world["ids"][0])
        .replace("{lesion_id}", world["lesion"])
        .replace("{name}", "anna")
    )


def _area(path: str) -> str | None:
    return next((a for a in ALLOWED if path == a or path.startswith(a + "/")), None)


def test_every_route_is_covered_by_the_matrix(world):
    routes = _routes(world["app"])
    unknown = [
        (m, p)
        for m, p in routes
        if _area(p) is None and p not in ("/", "/login", "/logout", "/images/{image_id}")
    ]
    assert unknown == []
    assert len([r for r in routes if r[0] == "POST"]) >= 12


def test_route_role_matrix(world):
    app = world["app"]
    clients = {role: Browserless(app, name) for role, name in ACCOUNT.items()}
    anonymous = Browserless(app, None)
    checked = 0
    for method, path in _routes(app):
        area = _area(path)
        if area is None:
            continue
        url = _concrete(path, world)
        if method == "GET":
            assert anonymous.get(url).status_code == 401, url
            for role, c in clients.items():
                status = c.get(url).status_code
                if role in ALLOWED[area]:
                    assert status not in (401, 403), (role, url, status)
                else:
                    assert status == 403, (role, url, status)
        else:
            assert anonymous.post(url, {}, csrf=False).status_code == 401, url
            for role, c in clients.items():
                if role in ALLOWED[area]:
                    # the right role still needs this session's CSRF token
                    r = c.post(url, {}, csrf=False)
                    assert r.status_code == 403 and "form was not sent" in r.text, (role, url)
                    other = clients["admin" if role != "admin" else "curator"].csrf
                    assert c.post(url, {"csrf_token": other}, csrf=False).status_code == 403
                else:
                    assert c.post(url, {}).status_code == 403, (role, url)
        checked += 1
    assert checked >= 20
    # nothing changed through all those refused requests
    with world["project"].db.read() as s:
        assert s.execute(select(func.count()).select_from(Image)).scalar() == 3


def test_logout_needs_the_csrf_token(world):
    c = Browserless(world["app"], "kurt")
    assert c.post("/logout", {}, csrf=False).status_code == 403
    assert c.get("/curator").status_code == 200  # still signed in
    assert c.post("/logout").status_code == 303


def test_login_form_needs_its_nonce(world):
    c = Browserless(world["app"], None)
    r = c.post("/login", {"name": "kurt", "password": "x" * 12, "csrf_token": "forged"}, csrf=False)
    assert r.status_code == 403 and COOKIE not in c.client.cookies


def test_security_headers(world):
    c = Browserless(world["app"], "kurt")
    for url in ("/curator", f"/images/{world['ids'][0]}", "/login"):
        r = c.get(url)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    assert "no-store" in c.get("/curator").headers["cache-control"]
    assert "private" in c.get(f"/images/{world['ids'][0]}").headers["cache-control"]
    # pages load nothing from another host
    html = c.get("/curator").text
    assert not re.search(r'(src|href)="(https?:)?//', html)


# -- images ----------------------------------------------------------------------------------
def test_path_traversal_and_id_guessing_on_images(world):
    app, ids = world["app"], world["ids"]
    secret = (world["project"].root / "secret.key").read_text().strip()
    kurt = Browserless(app, "kurt")
    with world["project"].db.read() as s:
        sha = s.execute(select(Image.sha256).where(Image.image_id == ids[0])).scalar()
    attempts = [
        "/images/..%2F..%2Fsecret.key",
        "/images/%2e%2e%2fsecret.key",
        "/images/..%5Csecret.key",
        "/images/....%2F%2Fdermset.toml",
        f"/images/{ids[0]}%00.png",
        f"/images/{sha}",  # a content key is not an image id
        f"/images/{ids[0]}?size=../../secret.key",
        "/static/../secret.key",
        "/static/%2e%2e/secret.key",
        "/static/..%2Fsecret.key",
        "/images/IMG_9999999",
    ]
    for url in attempts:
        r = kurt.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert secret not in r.text
    assert kurt.get(f"/images/{ids[0]}").status_code == 200

    # a person without a reason to see an image gets the same answer as for no image at all
    for name in ("dan", "cleo", "ada"):  # unassigned reviewer, other clinician, administrator
        c = Browserless(app, name)
        missing = c.get("/images/IMG_9999999")
        assert missing.status_code == 404
        for url in (f"/images/{ids[1]}", f"/images/{ids[1]}?size=thumb"):
            r = c.get(url)
            assert (r.status_code, r.text) == (404, missing.text), (name, url)
    # those who may, can (the pathologist: the clinician called the lesion SCC)
    for name in ("anna", "clara", "kurt", "pia"):
        r = Browserless(app, name).get(f"/images/{ids[1]}?size=thumb")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


# -- uploads ---------------------------------------------------------------------------------
def _state(project):
    with project.db.read() as s:
        n_images = s.execute(select(func.count()).select_from(Image)).scalar()
        n_quarantine = s.execute(select(func.count()).select_from(Quarantine)).scalar()
    return n_images, n_quarantine, sorted(project.store.iter_keys())


def test_oversized_uploads_are_refused_whole(world):
    project = world["project"]
    clara = Browserless(world["app"], "clara")
    before = _state(project)
    big = ("big.jpg", b"\xff\xd8" + b"0" * (1024 * 1024 + 10))  # over the 1 MB photo limit
    ok = photographs(cohort(project.root.parent))[5]
    r = upload(clara, [ok, big], capture_fields(lesion="L9"))
    assert r.status_code == 413 and "Photograph 2 (big.jpg) is larger than 1 MB" in r.text
    # the whole request over 3 MB is cut off while it streams in
    huge = [(f"p{i}.jpg", b"\xff\xd8" + b"1" * (900 * 1024)) for i in range(4)]
    r = upload(clara, huge, capture_fields(lesion="L9"))
    assert r.status_code == 413
    # ... also when the client does not announce the length (chunked)
    boundary = "xyzBOUNDARY"

    def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f'{clara.csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
            f'filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        for _ in range(40):
            yield b"2" * (100 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = clara.client.post(
        "/capture",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413
    r = upload(clara, [ok] * 6, capture_fields(lesion="L9"))
    assert r.status_code == 413 and "At most 5 photographs" in r.text
    assert _state(project) == before  # nothing stored, nothing recorded


def test_non_images_are_quarantined_with_a_clear_reason(world):
    project = world["project"]
    clara = Browserless(world["app"], "clara")
    n_images, n_quarantine, keys = _state(project)
    good = photographs(cohort(project.root.parent))[6]
    jpeg = good.read_bytes()
    r = upload(
        clara,
        [
            ("Mustermann_Erika_notes.txt", b"patient notes, not a photograph\n"),
            ("report.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"),
            ("cut.jpg", jpeg[: len(jpeg) // 3]),
            good,
        ],
        capture_fields(lesion="L7"),
    )
    assert r.status_code == 200
    assert r.text.count("Could not be read") == 3
    assert "not an image" in r.text
    assert "Meets the SOP" in r.text or "Usable, with a remark" in r.text  # the good one
    after_images, after_quarantine, after_keys = _state(project)
    assert after_images == n_images + 1 and after_quarantine == n_quarantine + 3
    assert len(after_keys) == len(keys) + 1  # only the good photograph reached the store
    with project.db.read() as s:
        reasons = [
            (q.reason, str(q.details))
            for q in s.execute(select(Quarantine).order_by(Quarantine.id.desc()).limit(3))
            .scalars()
            .all()
        ]
    assert all("Mustermann" not in a + b and "report.pdf" not in a + b for a, b in reasons)


def test_capture_form_problems_name_the_field(world):
    project = world["project"]
    clara = Browserless(world["app"], "clara")
    before = _state(project)
    photo = photographs(cohort(project.root.parent))[0]
    fields = capture_fields(lesion="") | {"age": "old", "clin_size_long_diam_mm": "-2"}
    r = upload(clara, [photo], fields)
    assert r.status_code == 422
    assert "the lesion id is required" in r.text
    assert "age is not a number" in r.text
    assert "greater than 0" in r.text
    assert _state(project) == before


# -- session fixation --------------------------------------------------------------------------
def test_session_fixation(world):
    app = world["app"]
    # 1. a value chosen before sign-in never becomes the session
    victim = Browserless(app, None)
    victim.client.cookies.set(COOKIE, "attacker-chosen-value", domain="testserver.local")
    r = victim.login("kurt")
    issued = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert "attacker-chosen-value" not in issued
    attacker = Browserless(app, None)
    attacker.client.cookies.set(COOKIE, "attacker-chosen-value")
    assert attacker.get("/curator").status_code == 401
    # 2. a real session planted in the victim's browser is replaced and ended at sign-in
    attacker = Browserless(app, "dan")
    planted = attacker.client.cookies.get(COOKIE)
    victim = Browserless(app, None)
    victim.client.cookies.set(COOKIE, planted, domain="testserver.local")
    victim.login("kurt")
    assert victim.client.cookies.get(COOKIE) != planted
    assert attacker.get("/review").status_code == 401  # the planted session is dead
    assert victim.get("/curator").status_code == 200
    # 3. every sign-in gets a fresh token
    again = Browserless(app, None)
    first = again.login("kurt").headers["set-cookie"]
    second = again.login("kurt").headers["set-cookie"]
    assert first != second


# -- blinding --------------------------------------------------------------------------------
def test_no_response_to_a_reviewer_carries_another_label_before_consensus(world, tmp_path):
    with cheap_hashing():
        project = make_project(tmp_path / "blind")
        app = app_for(project)
        clara, kurt = Browserless(app, "clara"), Browserless(app, "kurt")
        photos = photographs(cohort(world["project"].root.parent))[:2]
        r = upload(clara, photos, capture_fields())
        ids = re.findall(r'name="image_id" value="([^"]+)"', r.text)
        annotate(clara, ids, "SCC", note="CLINICAL-NOTE-7731", structures=["rosettes"])
        kurt.post("/curator/assign", {"reviewer": ["anna", "ben", "cora"]})
        anna, ben, cora = (Browserless(app, n) for n in ("anna", "ben", "cora"))
        for image_id in ids:
            assert (
                review(
                    anna, image_id, "DF", note="ANNA-NOTE-4412", structure="central_white_patch"
                ).status_code
                == 303
            )
            assert review(ben, image_id, "VASC", note="BEN-NOTE-9910").status_code == 303

        seen = []  # (response, the diagnosis cora herself sent with it)
        for url in ("/review", "/review/next", *(f"/review/{i}" for i in ids)):
            seen.append((cora.get(url, follow_redirects=True), None))
        seen.append((cora.post(f"/review/{ids[0]}", {"diagnosis": "DF"}), "DF"))  # no confidence
        seen.append(
            (cora.post(f"/review/{ids[0]}", {"diagnosis": "MEL", "confidence": "9"}), "MEL")
        )
        seen.append((cora.get(f"/images/{ids[0]}"), None))
        secrets = re.compile(r"ANNA-NOTE|BEN-NOTE|CLINICAL-NOTE|\banna\b|\bben\b|\bclara\b")
        for r, own in seen:
            text = r.text if r.headers["content-type"].startswith("text") else ""
            assert not secrets.search(text), secrets.search(text)
            checked = re.findall(r'name="(?:diagnosis|structure)" value="(\w+)"[^>]*checked', text)
            assert checked == ([own] if own else []), checked
            assert "Outcome" not in text
        assert seen[-3][0].status_code == 422 and "confidence" in seen[-3][0].text.lower()
        assert seen[-2][0].status_code == 422 and "from 1 to 5" in seen[-2][0].text

        # positive control: after cora's own review closes the consensus, it is shown
        assert review(cora, ids[0], "DF").status_code == 303
        after = cora.get(f"/review/{ids[0]}").text
        assert "Outcome" in after and "Consensus" in after and "DF" in after
        assert "VASC" in after and "SCC" in after  # the others' and the clinician's labels
        # ... but not for the image cora has not reviewed yet
        assert "Outcome" not in cora.get(f"/review/{ids[1]}").text
        project.close()
