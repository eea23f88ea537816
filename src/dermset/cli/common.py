"""Shared options, output helpers and the error boundary of the CLI."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from dermset.registry.project import Project


def _width(stream) -> int | None:
    """Full-width tables when the output goes to a file or a pipe (Rich assumes 80 columns)."""
    return None if stream.isatty() else 200


console = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="Project folder (default: $DERMSET_PROJECT, then .)",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="Who makes the change, for the audit log "
        "(default: $DERMSET_USER, then the login name)",
        show_default=False,
    ),
]


def actor_name(actor: str | None) -> str:
    return actor or os.environ.get("DERMSET_USER") or getpass.getuser()


class CliError(Exception):
    """An error the user can act on: printed as one clear message, exit code 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextmanager
def project(path: Path | None) -> Iterator[Project]:
    proj = Project.open(path)
    try:
        yield proj
    finally:
        proj.close()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
