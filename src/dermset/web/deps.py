"""What every route needs: the app's state, the signed-in viewer, role and CSRF guards, pages.

Routes declare their area with :func:`page` (GET) or :func:`action` (POST). ``action`` also
checks the form's CSRF token against the session's, so no state-changing request can be made
from another site; the test suite checks that every POST route of the app uses it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.web.access import HOME, NAV, may_enter
from dermset.web.sessions import COOKIE, SessionStore, Viewer, same
from dermset.web.settings import WebSettings

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


class NotSignedIn(Exception):
    """No live session: answered with the sign-in page (401)."""


class Forbidden(Exception):
    """Signed in, but the role may not do this (403)."""

    def __init__(self, message: str = "your role does not give access to this page"):
        super().__init__(message)


class CsrfRejected(Exception):
    """A form without this session's CSRF token (403)."""


def _static_versions() -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10]
        for p in STATIC.iterdir()
        if p.is_file()
    }


@dataclass
class WebState:
    project: Project
    settings: WebSettings
    sessions: SessionStore
    templates: Jinja2Templates


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    versions = _static_versions()

    def static_url(name: str) -> str:
        return f"/static/{name}?v={versions.get(name, '0')}"

    templates.env.globals["static_url"] = static_url
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    return templates


def state(request: Request) -> WebState:
    return request.app.state.web


def request_reader(request: Request) -> Iterator[Session]:
    """One read transaction for a request's reads: the session lookup and the page.

    On PostgreSQL every transaction costs round trips (checkout ping, BEGIN, ROLLBACK); one per
    request instead of one per lookup (three or four for a review page) is what brought the load
    benchmark's PostgreSQL p95 under its target. Writes still run in their own transactions.
    """
    with state(request).project.db.read() as s:
        request.state.reader = s
        try:
            yield s
        finally:
            request.state.reader = None


@contextmanager
def reading(request: Request) -> Iterator[Session]:
    """The request's read transaction, or a new one outside a signed-in route."""
    shared = getattr(request.state, "reader", None)
    if shared is not None:
        yield shared
        return
    with state(request).project.db.read() as s:
        yield s


def current_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer or None (looked up once per request)."""
    if not hasattr(request.state, "viewer"):
        st = state(request)
        token = st.sessions.token_from_cookie(request.cookies.get(COOKIE))
        with reading(request) as s:
            request.state.viewer = st.sessions.find(token, session=s)
    return request.state.viewer


def signed_in(request: Request, _reader: Session = Depends(request_reader)) -> Viewer:
    viewer = current_viewer(request)
    if viewer is None:
        raise NotSignedIn()
    return viewer


def page(area: str) -> Callable[..., Viewer]:
    """Dependency: a signed-in viewer whose role may enter *area*."""

    def guard(viewer: Viewer = Depends(signed_in)) -> Viewer:
        if not may_enter(viewer.role, area):
            raise Forbidden()
        return viewer

    guard.area = area  # type: ignore[attr-defined]
    return guard


def action(area: str) -> Callable[..., Any]:
    """Dependency for POST: like :func:`page`, and the form must carry the CSRF token."""
    role_guard = page(area)

    async def guard(request: Request, viewer: Viewer = Depends(role_guard)) -> Viewer:
        form = await request.form()
        request.state.form = form  # for sync handlers, which cannot await it
        token = form.get("csrf_token") or request.headers.get("x-csrf-token")
        if not same(viewer.csrf, token if isinstance(token, str) else None):
            raise CsrfRejected()
        return viewer

    guard.csrf = True  # type: ignore[attr-defined]
    guard.area = area  # type: ignore[attr-defined]
    return guard


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    viewer: Viewer | None = None,
    anonymous: bool = False,
) -> HTMLResponse:
    """A page; *anonymous* renders it without the signed-in header (the sign-in form)."""
    st = state(request)
    if anonymous:
        viewer = None
    elif viewer is None:
        viewer = getattr(request.state, "viewer", None)
    nav = NAV.get(viewer.role, []) if viewer else []
    path = request.url.path
    matching = [u for _, u in nav if path == u or path.startswith(u + "/")]
    ctx = {
        "viewer": viewer,
        "current": max(matching, key=len) if matching else None,
        "csrf": viewer.csrf if viewer else "",
        "nav": nav,
        "home": HOME.get(viewer.role, "/") if viewer else "/login",
        "study": st.project.protocol.name,
        "protocol_version": st.project.protocol.version,
        "path": request.url.path,
    }
    ctx.update(context or {})
    return st.templates.TemplateResponse(request, template, ctx, status_code=status)
