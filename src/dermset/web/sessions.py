"""Signed-in browsers: server-side sessions behind a signed, HttpOnly cookie.

The cookie carries a random 256-bit token signed with a key derived from the project secret
(itsdangerous); the database keeps only the token's SHA-256, the account and the session's CSRF
token. A session ends on logout, after ``idle_minutes`` without a request, after ``max_hours``
in any case, and when its account is disabled or its password changed. A new token is made at
every sign-in and any session the browser brought along is ended (no session fixation). Forms
carry the session's CSRF token; the sign-in form, which has no session yet, carries a nonce
that must match a signed cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.user_tables import WebSession, WebUser
from dermset.web.settings import WebSettings

COOKIE = "dermset_session"
LOGIN_COOKIE = "dermset_login"
#: last_seen is written at most this often (a write per page view would serialise readers)
TOUCH_SECONDS = 60
LOGIN_NONCE_SECONDS = 3600


@dataclass(frozen=True)
class Viewer:
    """The signed-in person making a request."""

    user_id: int
    name: str
    role: str
    csrf: str
    session_id: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class SessionStore:
    def __init__(self, project: Project, settings: WebSettings):
        self.project, self.settings = project, settings
        key = project.keys.mac("web-cookie", "v1")
        self._signer = URLSafeTimedSerializer(key, salt="dermset-session")
        self._login_signer = URLSafeTimedSerializer(key, salt="dermset-login")

    # -- cookies ----------------------------------------------------------------------
    def cookie_value(self, token: str) -> str:
        return self._signer.dumps(token)

    def token_from_cookie(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            token = self._signer.loads(value, max_age=self.settings.max_hours * 3600)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def login_nonce(self) -> tuple[str, str]:
        """A fresh (nonce, signed cookie value) pair for the sign-in form."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._login_signer.dumps(nonce)

    def login_nonce_ok(self, cookie: str | None, submitted: str | None) -> bool:
        if not cookie:
            return False
        try:
            nonce = self._login_signer.loads(cookie, max_age=LOGIN_NONCE_SECONDS)
        except BadSignature:
            return False
        return same(nonce, submitted)

    # -- sessions ---------------------------------------------------------------------
    def open(self, user_id: int, *, replacing: str | None = None) -> str:
        """A new session for the account (ending the one the browser brought); the token."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.project.db.session() as s:
            if replacing:
                s.execute(delete(WebSession).where(WebSession.token_hash == _hash(replacing)))
            s.execute(
                delete(WebSession).where(WebSession.user_id == user_id, WebSession.expires_at < now)
            )
            s.add(
                WebSession(
                    token_hash=_hash(token),
                    user_id=user_id,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen=now,
                    expires_at=now + timedelta(hours=self.settings.max_hours),
                )
            )
        return token

    def find(self, token: str | None, session: Session | None = None) -> Viewer | None:
        """The viewer of a live session, or None (ending a session that has run out).

        *session*: a read transaction of the caller's to look it up in.
        """
        if not token:
            return None
        key = _hash(token)
        with nullcontext(session) if session is not None else self.project.db.read() as s:
            row = s.execute(
                select(
                    WebSession.id,
                    WebSession.csrf_token,
                    WebSession.last_seen,
                    WebSession.expires_at,
                    WebUser.id,
                    WebUser.name,
                    WebUser.role,
                    WebUser.active,
                )
                .join(WebUser, WebUser.id == WebSession.user_id)
                .where(WebSession.token_hash == key)
            ).first()
        if row is None:
            return None
        session_id, csrf, last_seen, expires_at, user_id, name, role, active = row
        now = datetime.now(UTC)
        last_seen = _aware(last_seen)
        idle = timedelta(minutes=self.settings.idle_minutes)
        if not active or _aware(expires_at) <= now or last_seen + idle <= now:
            self.close(token)
            return None
        if (now - last_seen).total_seconds() > TOUCH_SECONDS:
            with self.project.db.session() as s:
                s.execute(
                    update(WebSession).where(WebSession.id == session_id).values(last_seen=now)
                )
        return Viewer(user_id, name, role, csrf, session_id)

    def close(self, token: str | None) -> None:
        if token:
            with self.project.db.session() as s:
                s.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))
