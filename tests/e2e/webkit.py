"""Shared pieces of the web tests: a study project with accounts, signed-in clients, photographs
from the synthetic cohort, and a live server for the browser and the race tests.

Everything is generated at test time; nothing of /work/shared/data is copied.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from dermset.protocol import SOP, Protocol, Threshold
from dermset.registry.project import Project
from dermset.web.accounts import add_user
from dermset.web.app import create_app
from dermset.web.settings import WebSettings

PASSWORD = "blue-lagoon-7-stars"
USERS = {
    "clara": "clinician",
    "cleo": "clinician",
    "anna": "reviewer",
    "ben": "reviewer",
    "cora": "reviewer",
    "dan": "reviewer",
    "pia": "pathologist",
    "kurt": "curator",
    "ada": "admin",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
COHORT_SIZE = 40
COHORT_IMAGE = (640, 480)


@contextmanager
def cheap_hashing() -> Iterator[None]:
    """Argon2id with tiny costs: the production profile takes ~0.5 s per hash on a busy
    2-core machine, and the web tests create and sign in dozens of accounts."""
    from argon2 import PasswordHasher

    from dermset.web import accounts

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
        mp.setattr(accounts, "_dummy", None)
        yield


@pytest.fixture
def cheap_hashes() -> Iterator[None]:
    with cheap_hashing():
        yield


def study_protocol() -> Protocol:
    """The default protocol, with the resolution limits lowered for 640x480 test photographs.

    Every other SOP check keeps its default; the tests make a photograph that fails by being
    far too small (160x120), which still fails here.
    """
    checks = dict(SOP().checks)
    checks["resolution_mp"] = Threshold(
        warn=0.2, fail=0.05, description="image size in megapixels (test photographs are small)"
    )
    return Protocol(sop=SOP(checks=checks))


def make_project(root: Path, database_url: str | None = None, users=USERS) -> Project:
    project = Project.init(root, study_protocol(), database_url=database_url)
    with project.db.session() as s:
        for name, role in users.items():
            add_user(s, project, name, role, PASSWORD, actor="test-setup")
    return project


def token(html: str) -> str:
    m = CSRF.search(html)
    assert m, "the page has no form with a CSRF token"
    return m.group(1)


class Browserless:
    """A signed-in TestClient with the CSRF token of its session."""

    def __init__(self, app, name: str | None, base_url: str = "http://testserver"):
        self.client = TestClient(app, raise_server_exceptions=False, base_url=base_url)
        self.name = name
        self.csrf = ""
        if name is not None:
            self.login(name)

    def login(self, name: str, password: str = PASSWORD):
        page = self.client.get("/login")
        r = self.client.post(
            "/login",
            data={"name": name, "password": password, "csrf_token": token(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303, (r.status_code, r.text[:300])
        home = self.client.get(r.headers["location"])
        m = CSRF.search(home.text)
        self.csrf = m.group(1) if m else ""
        return r

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def post(self, url: str, data=None, *, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf)
        kw.setdefault("follow_redirects", False)
        return self.client.post(url, data=data, **kw)


def app_for(project: Project, **settings):
    return create_app(project, WebSettings(**settings))


# -- photographs ---------------------------------------------------------------------------
_COHORT: dict[str, Path] = {}


def cohort(base: Path) -> Path:
    """The synthetic cohort of the test session (generated once, small images)."""
    if "root" not in _COHORT:
        from dermset.synthetic import generate_cohort

        root = base / "cohort"
        generate_cohort(root, size=COHORT_SIZE, seed=5, image_size=COHORT_IMAGE)
        _COHORT["root"] = root
    return _COHORT["root"]


def photographs(root: Path, role: str = "original", kind: str | None = None) -> list[Path]:
    truth = json.loads((root / "truth.json").read_text())
    return [
        root / "images" / i["filename"]
        for i in truth["images"]
        if i["role"] == role and (kind is None or i.get("kind") == kind) and i["format"] == "jpeg"
    ]


def planted_pair(root: Path, kind: str) -> tuple[Path, Path]:
    """(source, copy) of a planted near duplicate of the given kind, e.g. ``resized``."""
    truth = json.loads((root / "truth.json").read_text())
    for i in truth["images"]:
        if i["role"] == "near_duplicate" and i.get("kind") == kind:
            source = next(j for j in truth["images"] if j["image"] == i["source"])
            return root / "images" / source["filename"], root / "images" / i["filename"]
    raise LookupError(kind)


def too_small(path: Path) -> bytes:
    """The photograph shrunk to 160x120: far below the SOP's resolution limit."""
    with PILImage.open(path) as im:
        small = im.convert("RGB").resize((160, 120))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=90)
    return out.getvalue()


def capture_fields(patient: str = "MRN-0042", lesion: str = "L1") -> dict[str, str]:
    return {
        "patient_id": patient,
        "lesion_id": lesion,
        "age": "58",
        "sex": "female",
        "fitzpatrick_skin_type": "II",
        "anatom_site_general": "posterior torso",
        "clin_size_long_diam_mm": "7.5",
        "dermoscopic_type": "contact polarized",
    }


# -- a live server -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app) -> Iterator[str]:
    """The app on a loopback port in a thread (real HTTP, real concurrency)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- the study's steps, through the pages --------------------------------------------------
IMAGE_IDS = re.compile(r'name="image_id" value="([^"]+)"')


def upload(client: Browserless, photos, fields: dict[str, str]):
    """POST the capture form; *photos* are paths or (name, bytes) pairs."""
    files = []
    for p in photos:
        name, data = (p.name, p.read_bytes()) if isinstance(p, Path) else p
        files.append(("photos", (name, data, "image/jpeg")))
    return client.post("/capture", fields, files=files)


def annotate(client: Browserless, image_ids, diagnosis: str, note: str = "", structures=()):
    return client.post(
        "/capture/annotate",
        {
            "image_id": list(image_ids),
            "diagnosis": diagnosis,
            "note": note,
            "structure": list(structures),
        },
    )


def review(client: Browserless, image_id: str, diagnosis: str, confidence: int = 4, **extra):
    data = {"diagnosis": diagnosis, "confidence": str(confidence), **extra}
    return client.post(f"/review/{image_id}", data)
