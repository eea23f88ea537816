"""The web app: FastAPI, server-rendered pages, a little JavaScript of our own.

``create_app(project)`` builds the app over an open project; ``app_from_env()`` opens the
project named by ``$DERMSET_PROJECT`` (uvicorn's factory for ``dermset serve --workers N``).
Pages are faces on the core: every rule (blinding, who reviews what, consensus, SOP, release
gate) is decided in ``dermset.verification`` and ``dermset.ingest``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from dermset.registry.project import Project
from dermset.web.deps import (
    STATIC,
    CsrfRejected,
    Forbidden,
    NotSignedIn,
    WebState,
    make_templates,
    render,
)
from dermset.web.images import router as images_router
from dermset.web.routes import admin, auth, capture, curator, pathology, review
from dermset.web.security import BodyLimit, SecurityHeaders
from dermset.web.sessions import SessionStore
from dermset.web.settings import WebSettings

log = logging.getLogger("dermset.web")

TITLES = {
    400: "The request could not be read",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Already done",
    413: "Upload too large",
    422: "Please check the form",
    429: "Too many attempts",
    503: "Temporarily unavailable",
}


def error_page(request: Request, status: int, message: str) -> Response:
    return render(
        request,
        "error.html",
        {"title": TITLES.get(status, "Something went wrong"), "message": message, "status": status},
        status=status,
    )


def create_app(project: Project, settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    app = FastAPI(title="dermset", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = WebState(project, settings, SessionStore(project, settings), make_templates())
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    for module in (auth, capture, review, pathology, curator, admin):
        app.include_router(module.router)
    app.include_router(images_router)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        next_path = request.url.path if request.method == "GET" else ""
        if next_path and request.url.query:
            next_path += "?" + request.url.query
        return auth.login_page(
            request,
            status=401,
            message="Please sign in to continue.",
            next_path=next_path,
            level="",
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return error_page(request, 403, f"Sorry — {exc}.")

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        return error_page(
            request,
            403,
            "This form was not sent from a page of this session (it may have expired). "
            "Go back, reload the page and try again.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "The request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "There is no page at this address."
        if exc.status_code == 405:
            message = "This address does not take that kind of request."
        return error_page(request, exc.status_code, message[0].upper() + message[1:])

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        return error_page(
            request, 422, "The form was incomplete or malformed: " + ", ".join(fields) + "."
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_page(
            request,
            500,
            "Something went wrong on the server; nothing was half-saved. "
            "Please try again, and tell the study's administrator if it happens again.",
        )

    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def app_from_env() -> FastAPI:
    """The app for the project named by $DERMSET_PROJECT (or the current folder)."""
    return create_app(Project.open())
