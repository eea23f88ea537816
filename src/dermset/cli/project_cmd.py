"""`dermset init`, `status`, `images`, `quarantine`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dermset.cli.common import JsonOpt, ProjectOpt, console, print_json, project
from dermset.registry import quarantine as quarantine_list
from dermset.registry.project import Project
from dermset.registry.summary import status as registry_status
from dermset.registry.views import ImageFilter, image_rows


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project")],
) -> None:
    """Create a project: protocol (dermset.toml), registry, image store and secret."""
    proj = Project.init(directory)
    try:
        console.print(f"[green]Created dermset project[/] in {directory}")
        console.print(f"  protocol  {proj.protocol_path}  (edit it before the first ingest)")
        console.print(f"  registry  {proj.db.url}")
        console.print(f"  store     {proj.store.url}")
        console.print(
            f"  secret    {directory / 'secret.key'}  (mode 0600; back it up, never share it)"
        )
    finally:
        proj.close()


def status(project_dir: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Patients, lesions, images; counts per diagnosis, verification stage and block."""
    with project(project_dir) as proj, proj.db.read() as s:
        data = registry_status(s)
        taxonomy = proj.protocol.taxonomy()
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]{data['patients']}[/] patients · [bold]{data['lesions']}[/] lesions · "
        f"[bold]{data['images']}[/] images in the dataset "
        f"({data['records']} records; {data['quarantined']} in quarantine)"
    )
    t = Table(title="Diagnoses", show_edge=False)
    t.add_column("category")
    t.add_column("name")
    t.add_column("images", justify="right")
    for code, n in data["by_diagnosis"].items():
        name = taxonomy[code].name if code in taxonomy.codes else ""
        t.add_row(code, name, str(n))
    console.print(t)
    t = Table(title="Verification stage", show_edge=False)
    t.add_column("stage")
    t.add_column("images", justify="right")
    for stage, n in data["by_verification_stage"].items():
        t.add_row(stage, str(n))
    console.print(t)
    t = Table(title="Completeness per block (active images)", show_edge=False)
    t.add_column("block")
    t.add_column("complete", justify="right")
    t.add_column("missing fields")
    for block, info in data["block_completeness"].items():
        missing = ", ".join(
            f"{f} {info['of'] - n}" for f, n in info["fields"].items() if n < info["of"]
        )
        t.add_row(block, f"{info['complete']}/{info['of']}", missing or "—")
    console.print(t)


def images(
    project_dir: ProjectOpt = None,
    as_json: JsonOpt = False,
    diagnosis: Annotated[str | None, typer.Option(help="Only this category code")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this verification stage")] = None,
    image_status: Annotated[
        str | None, typer.Option("--status", help="active, duplicate, sop_failed, withdrawn")
    ] = None,
    patient: Annotated[str | None, typer.Option(help="Only this patient pseudonym")] = None,
    lesion: Annotated[str | None, typer.Option(help="Only this lesion pseudonym")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows")] = None,
) -> None:
    """List images: ids, label, verification stage, status, SOP verdict, duplicate of."""
    flt = ImageFilter(
        diagnosis=diagnosis,
        verification_stage=stage,
        status=image_status,
        patient_id=patient,
        lesion_id=lesion,
    )
    cols = (
        "image_id",
        "source_id",
        "patient_id",
        "lesion_id",
        "diagnosis",
        "verification_stage",
        "status",
        "quality_verdict",
        "duplicate_of",
    )
    with project(project_dir) as proj, proj.db.read() as s:
        rows = [{c: r[c] for c in cols} for r in image_rows(s, flt, limit=limit)]
    if as_json:
        print_json(rows)
        return
    t = Table(show_edge=False)
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if r[c] is None else str(r[c]) for c in cols))
    console.print(t)
    console.print(f"{len(rows)} images")


def quarantine(project_dir: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Input that could not be taken in, with the reason."""
    with project(project_dir) as proj, proj.db.read() as s:
        entries = [
            {
                "id": q.id,
                "kind": q.kind,
                "row": q.row,
                "field": q.field,
                "rule": q.rule,
                "reason": q.reason,
                "created_at": q.created_at,
            }
            for q in quarantine_list.open_entries(s)
        ]
    if as_json:
        print_json(entries)
        return
    t = Table(show_edge=False)
    for c in ("id", "kind", "rule", "reason"):
        t.add_column(c)
    for e in entries:
        t.add_row(str(e["id"]), e["kind"], e["rule"], e["reason"])
    console.print(t)
    console.print(f"{len(entries)} open quarantine entries")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(status)
    app.command()(images)
    app.command()(quarantine)
