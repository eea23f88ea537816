"""Account administration: list, add, enable/disable, reset a password (administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from dermset.web.accounts import ROLES, AccountError, add_user, list_users, set_active, set_password
from dermset.web.deps import action, page, render, state
from dermset.web.sessions import Viewer

router = APIRouter()


def _users_page(
    request: Request, viewer: Viewer, *, error: str = "", done: str = "", status: int = 200
) -> Response:
    project = state(request).project
    with project.db.read() as s:
        users = [
            {"name": u.name, "role": u.role, "active": u.active, "created_at": u.created_at}
            for u in list_users(s)
        ]
    return render(
        request,
        "admin_users.html",
        {"users": users, "roles": ROLES, "error": error, "done": done},
        status=status,
        viewer=viewer,
    )


@router.get("/admin/users", response_model=None)
def users(request: Request, done: str = "", viewer: Viewer = Depends(page("admin"))) -> Response:
    return _users_page(request, viewer, done=done)


def _change(request: Request, viewer: Viewer, change, done: str) -> Response:
    project = state(request).project
    try:
        with project.db.session() as s:
            change(s, project)
    except AccountError as exc:
        return _users_page(request, viewer, error=str(exc), status=422)
    return RedirectResponse(f"/admin/users?done={done}", status_code=303)


@router.post("/admin/users", response_model=None)
def create(request: Request, viewer: Viewer = Depends(action("admin"))) -> Response:
    form = request.state.form
    name, role = str(form.get("name") or ""), str(form.get("role") or "")
    password = str(form.get("password") or "")
    return _change(
        request,
        viewer,
        lambda s, p: add_user(s, p, name, role, password, actor=viewer.name),
        "created",
    )


@router.post("/admin/users/{name}/active", response_model=None)
def activate(request: Request, name: str, viewer: Viewer = Depends(action("admin"))) -> Response:
    active = str(request.state.form.get("active") or "") == "yes"
    if name == viewer.name and not active:
        return _users_page(
            request, viewer, error="You cannot disable your own account.", status=422
        )
    return _change(
        request,
        viewer,
        lambda s, p: set_active(s, p, name, active, actor=viewer.name),
        "enabled" if active else "disabled",
    )


@router.post("/admin/password", response_model=None)
def reset(request: Request, viewer: Viewer = Depends(action("admin"))) -> Response:
    name = str(request.state.form.get("name") or "")
    password = str(request.state.form.get("password") or "")
    return _change(
        request,
        viewer,
        lambda s, p: set_password(s, p, name, password, actor=viewer.name),
        "password",
    )
