"""Signing in and out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dermset.web.access import HOME
from dermset.web.accounts import TooManyAttempts, authenticate
from dermset.web.deps import CsrfRejected, current_viewer, render, signed_in, state
from dermset.web.sessions import COOKIE, LOGIN_COOKIE, Viewer, same

router = APIRouter()


def _secure(request: Request) -> bool:
    configured = state(request).settings.secure_cookies
    return configured if configured is not None else request.url.scheme == "https"


def safe_next(target: str | None) -> str | None:
    """A same-site path to go back to after signing in (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def login_page(
    request: Request,
    *,
    status: int = 200,
    message: str = "",
    next_path: str = "",
    name: str = "",
    level: str = "error",
) -> HTMLResponse:
    """The sign-in form, with a fresh nonce cookie for its CSRF check."""
    nonce, cookie = state(request).sessions.login_nonce()
    response = render(
        request,
        "login.html",
        {"nonce": nonce, "message": message, "next": next_path, "name": name, "level": level},
        status=status,
        anonymous=True,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/", response_model=None)
def root(request: Request) -> Response:
    viewer = current_viewer(request)
    return RedirectResponse(HOME[viewer.role] if viewer else "/login", status_code=303)


@router.get("/login", response_model=None)
def login_form(request: Request, next: str = "") -> Response:
    viewer = current_viewer(request)
    if viewer is not None:  # e.g. a shared clinic computer: someone else signs in
        return login_page(
            request,
            next_path=safe_next(next) or "",
            message=f"Signed in as {viewer.name}. Signing in here ends that session.",
            level="",
        )
    return login_page(request, next_path=safe_next(next) or "")


@router.post("/login", response_model=None)
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    st = state(request)
    if not st.sessions.login_nonce_ok(request.cookies.get(LOGIN_COOKIE), csrf_token):
        return login_page(
            request,
            status=403,
            message="The sign-in form had expired. Please sign in again.",
            next_path=safe_next(next) or "",
        )
    address = request.client.host if request.client else ""
    try:
        found = authenticate(st.project, name, password, address=address, settings=st.settings)
    except TooManyAttempts as exc:
        return login_page(request, status=429, message=str(exc).capitalize() + ".", name=name)
    if found is None:
        return login_page(
            request,
            status=401,
            message="The name or the password is not right.",
            next_path=safe_next(next) or "",
            name=name,
        )
    # fixation defence: always a new token; the session the browser brought (if any) ends
    old = st.sessions.token_from_cookie(request.cookies.get(COOKIE))
    token = st.sessions.open(found.user_id, replacing=old)
    response = RedirectResponse(safe_next(next) or HOME[found.role], status_code=303)
    response.set_cookie(
        COOKIE,
        st.sessions.cookie_value(token),
        max_age=st.settings.max_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    form = await request.form()
    token = form.get("csrf_token")
    if not same(viewer.csrf, token if isinstance(token, str) else None):
        raise CsrfRejected()
    st = state(request)
    st.sessions.close(st.sessions.token_from_cookie(request.cookies.get(COOKIE)))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


logout.csrf = True  # type: ignore[attr-defined]
