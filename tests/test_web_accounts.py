"""Web accounts and sessions: argon2 hashes, rules for names and passwords, the `dermset users`
commands, sign-in throttling, session expiry and ending, cookie flags, the migration."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, update

from cli_helpers import dermset
from dermset.registry.schema import metadata
from dermset.registry.tables import AuditEvent
from dermset.registry.user_tables import LoginAttempt, WebSession, WebUser
from dermset.web.accounts import AccountError, add_user
from dermset.web.sessions import COOKIE
from e2e.webkit import (
    PASSWORD,
    Browserless,
    app_for,
    cheap_hashes,  # noqa: F401 - a fixture
    make_project,
    token,
)


@pytest.fixture
def study(tmp_path, request):
    request.getfixturevalue("cheap_hashes")
    project = make_project(tmp_path / "study")
    yield project
    project.close()


def test_passwords_are_stored_as_argon2id_hashes_only(study):
    with study.db.read() as s:
        users = dict(s.execute(select(WebUser.name, WebUser.password_hash)).all())
    assert len(users) == 9
    for stored in users.values():
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored
    # the account creations are in the audit log with their roles
    with study.db.read() as s:
        events = list(
            s.execute(
                select(AuditEvent.entity_key).where(AuditEvent.entity == "web_user")
            ).scalars()
        )
    assert set(events) == set(users)
    with study.db.read() as s:
        assert study.audit.verify(s) == []


@pytest.mark.parametrize(
    ("name", "role", "password", "field"),
    [
        ("x", "reviewer", PASSWORD, "name"),
        ("Anna Maria", "reviewer", PASSWORD, "name"),
        ("eve", "nurse", PASSWORD, "role"),
        ("eve", "reviewer", "short", "password"),
        ("evelyn", "reviewer", "evelyn-password-1", "password"),
        ("anna", "reviewer", PASSWORD, "name"),  # exists already
    ],
)
def test_account_rules(study, name, role, password, field):
    with pytest.raises(AccountError) as err, study.db.session() as s:
        add_user(s, study, name, role, password, actor="test")
    assert err.value.field == field
    assert str(err.value)


def test_users_command_reads_the_password_from_stdin(study, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-strong-pass-phrase\n"))
    r = dermset("users", "add", "Zoe", "--role", "pathologist", "--project", study.root)
    assert r.code == 0, r.err
    assert "zoe" in r.out
    monkeypatch.setattr(sys, "stdin", io.StringIO("tiny\n"))
    r = dermset("users", "add", "yan", "--role", "curator", "--project", study.root)
    assert r.code != 0 and "at least 10 characters" in r.err
    r = dermset("users", "list", "--json", "--project", study.root)
    names = {u["name"]: u for u in r.json()}
    assert names["zoe"]["role"] == "pathologist" and "yan" not in names
    app = app_for(study)
    Browserless(app, None).login("zoe", "a-strong-pass-phrase")  # the new account signs in
    r = dermset("users", "disable", "zoe", "--project", study.root)
    assert r.code == 0
    c = Browserless(app, None)
    page = c.get("/login")
    bad = c.post(
        "/login",
        {"name": "zoe", "password": "a-strong-pass-phrase", "csrf_token": token(page.text)},
        csrf=False,
    )
    assert bad.status_code == 401


def test_wrong_password_and_unknown_name_look_the_same(study):
    app = app_for(study)
    c = Browserless(app, None)
    answers = []
    for name, password in (("anna", "wrong-password-xx"), ("nobody", PASSWORD)):
        page = c.get("/login")
        r = c.post(
            "/login",
            {"name": name, "password": password, "csrf_token": token(page.text)},
            csrf=False,
        )
        answers.append((r.status_code, "not right" in r.text))
    assert answers == [(401, True), (401, True)]
    assert COOKIE not in c.client.cookies


def test_sign_in_is_throttled_per_account(study):
    app = app_for(study, max_failures_per_name=3)
    c = Browserless(app, None)

    def attempt(password):
        page = c.get("/login")
        return c.post(
            "/login",
            {"name": "ben", "password": password, "csrf_token": token(page.text)},
            csrf=False,
        )

    assert [attempt(f"guess-number-{i}").status_code for i in range(3)] == [401] * 3
    locked = attempt(PASSWORD)  # the right password, but too many failures just now
    assert locked.status_code == 429 and "too many failed sign-ins" in locked.text.lower()
    assert COOKIE not in c.client.cookies
    # the attempts are kept as keyed hashes only
    with study.db.read() as s:
        keys = list(s.execute(select(LoginAttempt.name_hmac)).scalars())
    assert keys and all("ben" not in k and len(k) == 64 for k in keys)
    # once the window has passed, the account signs in again
    with study.db.session() as s:
        s.execute(update(LoginAttempt).values(at=datetime.now(UTC) - timedelta(hours=1)))
    assert attempt(PASSWORD).status_code == 303


def test_sign_in_is_throttled_per_address(study):
    app = app_for(study, max_failures_per_address=4, max_failures_per_name=100)
    c = Browserless(app, None)
    codes = []
    for name in ("anna", "ben", "cora", "dan", "kurt"):
        page = c.get("/login")
        r = c.post(
            "/login",
            {"name": name, "password": "not-the-password", "csrf_token": token(page.text)},
            csrf=False,
        )
        codes.append(r.status_code)
    assert codes == [401, 401, 401, 401, 429]


def test_cookie_flags_and_logout(study):
    app = app_for(study)
    c = Browserless(app, None)
    r = c.login("kurt")
    cookie = r.headers["set-cookie"]
    assert "dermset_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert c.get("/curator").status_code == 200
    stolen = c.client.cookies.get(COOKIE)
    out = c.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert c.get("/curator").status_code == 401
    # the old cookie value is dead on the server, not just deleted in the browser
    other = Browserless(app, None)
    other.client.cookies.set(COOKIE, stolen)
    assert other.get("/curator").status_code == 401


def test_secure_cookie_when_configured(study):
    c = Browserless(app_for(study, secure_cookies=True), None, base_url="https://testserver")
    assert "Secure" in c.login("kurt").headers["set-cookie"]


def test_idle_and_absolute_session_expiry(study):
    app = app_for(study, idle_minutes=30, max_hours=8)
    c = Browserless(app, "anna")
    assert c.get("/review").status_code == 200
    with study.db.session() as s:
        s.execute(update(WebSession).values(last_seen=datetime.now(UTC) - timedelta(minutes=31)))
    r = c.get("/review")
    assert r.status_code == 401 and "sign in" in r.text.lower()
    with study.db.read() as s:
        assert s.execute(select(WebSession)).first() is None  # the dead session was removed
    c = Browserless(app, "anna")
    with study.db.session() as s:
        s.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert c.get("/review").status_code == 401


def test_disabling_an_account_ends_its_sessions(study):
    app = app_for(study)
    reviewer = Browserless(app, "cora")
    admin = Browserless(app, "ada")
    assert reviewer.get("/review").status_code == 200
    r = admin.post("/admin/users/cora/active", {"active": "no"})
    assert r.status_code == 303
    assert reviewer.get("/review").status_code == 401
    r = admin.post("/admin/users/ada/active", {"active": "no"})
    assert r.status_code == 422 and "own account" in r.text
    # a password reset by the administrator also ends the account's sessions
    ben = Browserless(app, "ben")
    r = admin.post("/admin/password", {"name": "ben", "password": "another-long-secret"})
    assert r.status_code == 303
    assert ben.get("/review").status_code == 401
    Browserless(app, None).login("ben", "another-long-secret")


def test_admin_adds_an_account_from_the_page(study):
    admin = Browserless(app_for(study), "ada")
    r = admin.post("/admin/users", {"name": "Nina", "role": "reviewer", "password": "x"})
    assert r.status_code == 422 and "at least 10 characters" in r.text
    r = admin.post(
        "/admin/users", {"name": "nina", "role": "reviewer", "password": "long-enough-pass"}
    )
    assert r.status_code == 303
    assert "nina" in admin.get("/admin/users").text


def test_production_hash_profile():
    """Outside the tests' cheap profile, accounts get argon2id at 64 MiB and three passes."""
    from dermset.web.accounts import hash_password

    assert hash_password("some password").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_web_tables_match_their_migration(any_project, request):
    request.getfixturevalue("cheap_hashes")
    with any_project.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = [d for d in diff if any(t in str(d) for t in ("web_", "login_attempt"))]
    assert ours == []
    # and an account works on this database
    with any_project.db.session() as s:
        add_user(s, any_project, "anna", "reviewer", PASSWORD, actor="test")
    Browserless(app_for(any_project), None).login("anna")
