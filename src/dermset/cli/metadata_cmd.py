"""`dermset validate` and `dermset import-metadata`."""

from __future__ import annotations

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
    print_json,
    project,
)
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata import TableReport, validate_table
from dermset.ingest.metadata_import import import_table
from dermset.protocol import Protocol
from dermset.registry.project import NotAProject, Project

MappingOpt = Annotated[
    str,
    typer.Option(
        "--mapping", "-m", help="isic, ham10000, pad-ufes-20, derm7pt, or a mapping .toml file"
    ),
]
MAX_SHOWN = 50


def _show(report: TableReport, verb: str) -> None:
    if report.problems:
        t = Table(show_edge=False, title=f"Problems in {report.file}")
        for c in ("row", "column", "value", "problem"):
            t.add_column(c, overflow="fold")
        for p in report.problems[:MAX_SHOWN]:
            style = "red" if p.severity == "error" else "yellow"
            value = "" if p.value is None else str(p.to_dict()["value"])
            t.add_row(
                "" if p.row is None else str(p.row),
                p.column or p.field or "",
                value,
                f"[{style}]{p.message}[/] ({p.rule})",
            )
        console.print(t)
        if len(report.problems) > MAX_SHOWN:
            console.print(f"… and {len(report.problems) - MAX_SHOWN} more (use --json for all)")
    colour = "green" if report.ok else "red"
    console.print(
        f"[{colour}]{report.file}[/]: {report.rows} rows, {report.valid_rows} valid, "
        f"{report.invalid_rows} invalid; {len(report.errors)} errors, "
        f"{len(report.warnings)} warnings ({verb} with mapping {report.mapping})"
    )


def validate(
    file: Annotated[Path, typer.Argument(help="Metadata CSV")],
    mapping: MappingOpt,
    project_dir: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a metadata table against the information model; exit 1 when anything is invalid."""
    spec = load_mapping(mapping)
    try:
        proj = Project.open(project_dir, migrate=False)
        protocol = proj.protocol
        proj.close()
    except NotAProject:
        protocol = Protocol()  # outside a project: the default protocol's taxonomy
    report = validate_table(file, spec, protocol.taxonomy())
    if as_json:
        print_json(report.to_dict())
    else:
        _show(report, "validated")
    if not report.ok:
        raise typer.Exit(1)


def import_metadata(
    file: Annotated[Path, typer.Argument(help="Metadata CSV")],
    mapping: MappingOpt,
    project_dir: ProjectOpt = None,
    site: Annotated[str, typer.Option(help="Namespace of the local patient/lesion ids")] = "",
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a metadata table: valid rows into the registry, invalid rows to quarantine."""
    spec = load_mapping(mapping)
    with project(project_dir) as proj:
        report = import_table(proj, file, spec, actor=actor_name(actor), site=site)
    if as_json:
        print_json(report.to_dict())
    else:
        _show(report, "imported")
        console.print(
            f"imported {report.imported} new images, updated {report.updated}, "
            f"unchanged {report.unchanged}; {report.patients_created} new patients, "
            f"{report.lesions_created} new lesions; {report.quarantined} rows quarantined"
        )
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command("import-metadata")(import_metadata)
