"""`dermset backup` and `dermset restore`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dermset.cli.common import ProjectOpt, console, fail, project
from dermset.registry.backup import BackupError
from dermset.registry.backup import backup as make_backup
from dermset.registry.backup import restore as restore_backup


def backup(
    dest: Annotated[Path, typer.Argument(help="Empty folder for the backup")],
    project_dir: ProjectOpt = None,
) -> None:
    """Write a consistent copy of registry, store, protocol and secret, while in use."""
    with project(project_dir) as proj:
        try:
            manifest = make_backup(proj, dest)
        except BackupError as exc:
            fail(str(exc))
    console.print(
        f"[green]backup written[/] to {dest}: {manifest['database']} registry, "
        f"{manifest['images']} images, {len(manifest['files'])} files checksummed"
    )
    console.print("It holds the project secret: keep it as safe as the project itself.")


def restore(
    src: Annotated[Path, typer.Argument(help="A folder written by `dermset backup`")],
    project_dir: Annotated[Path, typer.Option("--project", "-p", help="New, empty project folder")],
) -> None:
    """Bring a backup back into a new project folder (checksums verified first)."""
    try:
        proj = restore_backup(src, project_dir)
    except BackupError as exc:
        fail(str(exc))
    proj.close()
    console.print(f"[green]restored[/] {src} into {project_dir}")


def register(app: typer.Typer) -> None:
    app.command()(backup)
    app.command()(restore)
