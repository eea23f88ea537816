"""Web accounts: who may sign in, with which role, and how sign-in is throttled.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile: 64 MiB, three
passes), so a stolen database does not yield them. Each hash costs 64 MiB for ~50 ms; at most
:data:`HASH_SLOTS` run at once, so thirty people signing in together cannot exhaust the server's
memory. An unknown name is verified against a dummy hash, so response time does not tell
which names exist. Failed attempts are counted per account name and per client address in a
sliding window; beyond the limit the password is not even checked. Account changes are audited
like every other change.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import utcnow
from dermset.registry.user_tables import LoginAttempt, WebSession, WebUser
from dermset.web.settings import WebSettings

ROLES = ("clinician", "reviewer", "pathologist", "curator", "admin")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
HASH_SLOTS = 2

_hasher = PasswordHasher()
_slots = threading.BoundedSemaphore(HASH_SLOTS)
_dummy: str | None = None


class AccountError(ValueError):
    """A request about an account that the rules refuse."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class TooManyAttempts(Exception):
    """Sign-in refused without checking the password: too many recent failures."""

    def __init__(self, minutes: int):
        super().__init__(
            f"too many failed sign-ins; wait {minutes} minutes and try again, "
            "or ask an administrator to reset the password"
        )
        self.minutes = minutes


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def _dummy_hash() -> str:
    """A hash to verify against when the name is unknown (made once, on first use)."""
    global _dummy
    if _dummy is None:
        _dummy = hash_password("dermset: no such account")
    return _dummy


def _verify(stored: str, password: str) -> bool:
    with _slots:
        try:
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_name(name: str) -> str:
    text = (name or "").strip().lower()
    if not NAME_PATTERN.match(text):
        raise AccountError(
            f"user name {name!r} must be 2-64 characters: lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
            field="name",
        )
    return text


def check_role(role: str) -> str:
    text = (role or "").strip().lower()
    if text not in ROLES:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    return text


def check_password(password: str, name: str = "") -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"the password must have at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise AccountError("the password is too long", field="password")
    if name and name.lower() in password.lower():
        raise AccountError("the password must not contain the user name", field="password")
    return password


def get_user(session: Session, name: str) -> WebUser | None:
    return session.execute(
        select(WebUser).where(WebUser.name == (name or "").strip().lower())
    ).scalar_one_or_none()


def list_users(session: Session) -> list[WebUser]:
    return list(session.execute(select(WebUser).order_by(WebUser.role, WebUser.name)).scalars())


def users_with_role(session: Session, role: str) -> list[str]:
    return list(
        session.execute(
            select(WebUser.name)
            .where(WebUser.role == role, WebUser.active.is_(True))
            .order_by(WebUser.name)
        ).scalars()
    )


def add_user(
    session: Session, project: Project, name: str, role: str, password: str, *, actor: str
) -> WebUser:
    """Create an account (audited); the name must be new."""
    name, role = check_name(name), check_role(role)
    check_password(password, name)
    if get_user(session, name) is not None:
        raise AccountError(f"there is already an account named {name}", field="name")
    user = WebUser(name=name, role=role, password_hash=hash_password(password), active=True)
    session.add(user)
    session.flush()
    project.audit.record(
        session,
        actor=actor,
        entity="web_user",
        key=name,
        action="create",
        changes={"role": (None, role), "active": (None, True)},
    )
    return user


def _existing(session: Session, name: str) -> WebUser:
    user = get_user(session, name)
    if user is None:
        raise AccountError(f"no account named {name!r}", field="name")
    return user


def set_password(
    session: Session, project: Project, name: str, password: str, *, actor: str
) -> WebUser:
    """A new password; every open session of the account ends."""
    user = _existing(session, name)
    check_password(password, user.name)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    project.audit.record(
        session,
        actor=actor,
        entity="web_user",
        key=user.name,
        action="set_password",
        changes={"password": ("(argon2 hash)", "(new argon2 hash)")},
    )
    return user


def set_active(
    session: Session, project: Project, name: str, active: bool, *, actor: str
) -> WebUser:
    """Enable or disable an account; disabling ends its sessions at once."""
    user = _existing(session, name)
    if user.active == active:
        return user
    if not active:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    project.audit.record(
        session,
        actor=actor,
        entity="web_user",
        key=user.name,
        action="enable" if active else "disable",
        changes={"active": (user.active, active)},
    )
    user.active = active
    return user


@dataclass(frozen=True)
class Attempt:
    name_key: str
    address_key: str


def _attempt_keys(project: Project, name: str, address: str) -> Attempt:
    return Attempt(
        project.keys.mac("login-name", (name or "").strip().lower()),
        project.keys.mac("login-address", address or ""),
    )


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    name: str
    role: str


def authenticate(
    project: Project,
    name: str,
    password: str,
    *,
    address: str,
    settings: WebSettings,
) -> SignedIn | None:
    """The account if the name and password match an active account, else None.

    Raises :class:`TooManyAttempts` (and records nothing new) when the name or the address has
    failed too often in the window. The password is checked outside any transaction: a hash
    takes ~0.5 s, and on SQLite a writing transaction holds the database's write lock.
    """
    keys = _attempt_keys(project, name, address)
    now = datetime.now(UTC)
    since = now - timedelta(minutes=settings.failure_window_minutes)
    wanted = (name or "").strip().lower()
    with project.db.read() as s:

        def failures(column, key: str) -> int:
            return int(
                s.execute(
                    select(func.count())
                    .select_from(LoginAttempt)
                    .where(column == key, LoginAttempt.success.is_(False), LoginAttempt.at >= since)
                ).scalar()
                or 0
            )

        throttled = (
            failures(LoginAttempt.name_hmac, keys.name_key) >= settings.max_failures_per_name
            or failures(LoginAttempt.address_hmac, keys.address_key)
            >= settings.max_failures_per_address
        )
        row = (
            s.execute(
                select(
                    WebUser.id, WebUser.name, WebUser.role, WebUser.password_hash, WebUser.active
                ).where(WebUser.name == wanted)
            ).first()
            if not throttled and NAME_PATTERN.match(wanted)
            else None
        )
    if throttled:
        raise TooManyAttempts(settings.failure_window_minutes)
    ok = (
        _verify(row.password_hash, password)
        if row is not None
        else (_verify(_dummy_hash(), password) and False)
    )
    ok = bool(ok and row is not None and row.active)
    with project.db.session() as s:
        s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=1)))
        s.add(
            LoginAttempt(at=now, name_hmac=keys.name_key, address_hmac=keys.address_key, success=ok)
        )
        if ok:  # a success clears the account's failure count
            s.execute(
                delete(LoginAttempt).where(
                    LoginAttempt.name_hmac == keys.name_key, LoginAttempt.success.is_(False)
                )
            )
    return SignedIn(row.id, row.name, row.role) if ok and row is not None else None
