"""`dermset serve` (the web app) and `dermset users` (its accounts)."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dermset.cli.common import (
    ActorOpt,
    JsonOpt,
    ProjectOpt,
    actor_name,
    console,
    err_console,
    fail,
    print_json,
    project,
)
from dermset.registry.project import ENV_PROJECT, Project
from dermset.web.accounts import ROLES, AccountError, add_user, list_users, set_active, set_password

#: seconds an idle connection stays open: a reviewer looks at an image for longer than
#: uvicorn's default of 5 s, and a browser reusing a connection the server just closed fails
KEEP_ALIVE = 75

users_app = typer.Typer(
    help="Web accounts: who may sign in to `dermset serve`, with which role.",
    no_args_is_help=True,
)


def _read_password(confirm: bool = True) -> str:
    """From the terminal (asked twice, not echoed) or, when piped, the first line of stdin."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            fail("no password on stdin (pipe one line, or run in a terminal to be asked)")
        return line.rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (lower-case letters, digits, . _ -)")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}")],
    project_dir: ProjectOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Create an account; the password is asked for, or read from stdin when piped."""
    password = _read_password()
    with project(project_dir) as proj, proj.db.session() as s:
        try:
            user = add_user(s, proj, name, role, password, actor=actor_name(actor))
        except AccountError as exc:
            fail(str(exc))
        console.print(f"account [bold]{user.name}[/] created with role [bold]{user.role}[/]")


@users_app.command("list")
def users_list(project_dir: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """The accounts, their roles and whether they may sign in."""
    with project(project_dir) as proj, proj.db.read() as s:
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "active": u.active,
                "created_at": u.created_at.isoformat(timespec="seconds"),
            }
            for u in list_users(s)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no accounts yet: `dermset users add NAME --role admin`")
        return
    t = Table(show_edge=False)
    for col in ("name", "role", "status", "created"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], r["role"], "active" if r["active"] else "disabled", r["created_at"])
    console.print(t)


def _set_active(name: str, active: bool, project_dir: Path | None, actor: str | None) -> None:
    with project(project_dir) as proj, proj.db.session() as s:
        try:
            set_active(s, proj, name, active, actor=actor_name(actor))
        except AccountError as exc:
            fail(str(exc))
    console.print(f"{name}: {'enabled' if active else 'disabled (its sessions ended)'}")


@users_app.command("disable")
def users_disable(name: str, project_dir: ProjectOpt = None, actor: ActorOpt = None) -> None:
    """Stop an account from signing in; its open sessions end at once."""
    _set_active(name, False, project_dir, actor)


@users_app.command("enable")
def users_enable(name: str, project_dir: ProjectOpt = None, actor: ActorOpt = None) -> None:
    """Let a disabled account sign in again."""
    _set_active(name, True, project_dir, actor)


@users_app.command("passwd")
def users_passwd(name: str, project_dir: ProjectOpt = None, actor: ActorOpt = None) -> None:
    """Set a new password (asked for, or from stdin); the account's sessions end."""
    password = _read_password()
    with project(project_dir) as proj, proj.db.session() as s:
        try:
            set_password(s, proj, name, password, actor=actor_name(actor))
        except AccountError as exc:
            fail(str(exc))
    console.print(f"{name}: password set")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes (default: 1 on SQLite, 2 on PostgreSQL)"),
    ] = None,
    project_dir: ProjectOpt = None,
) -> None:
    """Run the web app: capture, blinded review, histopathology, curation."""
    import uvicorn

    from dermset.web.app import create_app

    proj = Project.open(project_dir)  # checks the project and brings its schema up to date
    if workers is None:  # measured: benchmarks/bench_web_load.py (docs/web.md)
        workers = 1 if proj.db.is_sqlite else 2
    with proj.db.read() as s:
        n_accounts = len(list_users(s))
    if not n_accounts:
        err_console.print(
            "[yellow]no accounts yet[/]: create one with "
            "`dermset users add NAME --role admin` (then the others from the Accounts page)"
        )
    if not _is_loopback(host):
        err_console.print(
            f"[yellow]listening on {host}[/]: serve it behind HTTPS (a reverse proxy) so "
            "passwords and images never cross the network in clear; cookies are then marked "
            "Secure (or set DERMSET_SECURE_COOKIES=1)"
        )
    if proj.db.is_sqlite and workers > 1:
        err_console.print(
            "[yellow]several workers on SQLite[/]: writes queue on one file; "
            "use PostgreSQL (DERMSET_DATABASE_URL) for a team"
        )
    console.print(f"dermset web app on http://{host}:{port}/  (Ctrl+C to stop)")
    if workers > 1:
        proj.close()
        os.environ[ENV_PROJECT] = str(proj.root.resolve())
        uvicorn.run(
            "dermset.web.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            timeout_keep_alive=KEEP_ALIVE,
        )
        return
    try:
        uvicorn.run(
            create_app(proj),
            host=host,
            port=port,
            log_level="warning",
            timeout_keep_alive=KEEP_ALIVE,
        )
    finally:
        proj.close()


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(users_app, name="users")
