"""Web accounts, their sessions, login attempts and who uploaded which image (the web app's tables).

Names are the person names the verification workflow records (reviewer, annotator, adjudicator),
so a web account *is* the person in the audit log. Passwords are stored only as argon2 hashes;
sessions only as the SHA-256 of their random token (a copy of the database does not let anyone
sign in); login attempts only as keyed hashes of the name and address tried (a mistyped password
in the name field is not kept in clear).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from dermset.registry.tables import Base, utcnow


class WebUser(Base):
    """A person who signs in to the web app, with one role."""

    __tablename__ = "web_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: clinician | reviewer | pathologist | curator | admin
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebSession(Base):
    """A signed-in browser. The cookie carries the token; the table only its hash."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), index=True)
    #: the synchroniser token every form of this session carries
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: absolute end, whatever the activity
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LoginAttempt(Base):
    """One sign-in attempt, for rate limiting (keyed hashes only)."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    name_hmac: Mapped[str] = mapped_column(String(64), index=True)
    address_hmac: Mapped[str] = mapped_column(String(64), index=True)
    success: Mapped[bool] = mapped_column(Boolean)


class WebUpload(Base):
    """Which account uploaded an image from the capture page (it may then see and annotate it)."""

    __tablename__ = "web_upload"

    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), primary_key=True)
    uploader: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
