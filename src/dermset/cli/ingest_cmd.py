"""`dermset ingest` and `dermset fsck`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

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
from dermset.ingest.executors import WorkerError
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.pipeline import IngestError, IngestSummary, ingest_paths
from dermset.registry.fsck import FsckReport, fsck

MAX_SHOWN = 30


class RateColumn(ProgressColumn):
    """Images per second, as measured over the last few updates."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} img/s", style="cyan")


def _progress(label: str, quiet: bool) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )


def _show(summary: IngestSummary, sop=None) -> None:
    if summary.problems:
        t = Table(title="Quarantined", show_edge=False)
        t.add_column("file", overflow="fold")
        t.add_column("reason", overflow="fold")
        for p in summary.problems[:MAX_SHOWN]:
            where = p.file or ""
            if p.row is not None:
                where += f" (metadata row {p.row})"
            t.add_row(where, f"[red]{p.message}[/] ({p.rule})")
        console.print(t)
        if len(summary.problems) > MAX_SHOWN:
            console.print(f"… and {len(summary.problems) - MAX_SHOWN} more (`dermset quarantine`)")
    if summary.sop_failures:
        t = Table(title="Failed SOP checks", show_edge=False)
        t.add_column("check")
        t.add_column("images", justify="right")
        if sop is not None:
            t.add_column("what it measures", style="dim", overflow="fold")
        for check, n in sorted(summary.sop_failures.items(), key=lambda kv: -kv[1]):
            spec = sop.checks.get(check) if sop is not None else None
            t.add_row(check, str(n), *([spec.description if spec else ""] if sop else []))
        console.print(t)
    console.print(f"[bold]{summary.study_line()}[/]")
    notes = []
    if summary.exact_duplicates or summary.near_duplicates:
        notes.append(
            f"duplicates: {summary.exact_duplicates} exact (same pixels), "
            f"{summary.near_duplicates} near"
        )
    if summary.quality_warnings:
        notes.append(f"{summary.quality_warnings} kept images have SOP warnings")
    if summary.already_ingested:
        notes.append(f"{summary.already_ingested} files were already ingested (skipped)")
    if summary.attached_to_metadata:
        notes.append(f"{summary.attached_to_metadata} files completed metadata-only records")
    if summary.without_metadata:
        notes.append(f"{summary.without_metadata} images have no metadata row")
    if summary.metadata_rows_without_file:
        notes.append(f"{summary.metadata_rows_without_file} metadata rows matched no file")
    if summary.skipped_files:
        notes.append(f"{summary.skipped_files} non-image files in the folders were skipped")
    for n in notes:
        console.print(f"  {n}")
    console.print(f"  ({summary.workers} workers, {summary.executor})", style="dim")


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Image files and folders")],
    metadata: Annotated[
        Path | None,
        typer.Option(help="Metadata CSV; rows match files by a filename column, else by id"),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--mapping", "-m", help="isic, ham10000, pad-ufes-20, derm7pt or a .toml"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core; 1: none)")
    ] = None,
    dask: Annotated[
        str | None, typer.Option(help="Run on a Dask cluster, e.g. tcp://host:8786")
    ] = None,
    site: Annotated[str, typer.Option(help="Namespace of the local patient/lesion ids")] = "",
    project_dir: ProjectOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring images into the registry: decode, scrub, SOP checks, duplicates; safe to re-run."""
    spec = load_mapping(mapping) if mapping else None
    if metadata is not None and spec is None:
        fail("--metadata needs --mapping (isic, ham10000, pad-ufes-20, derm7pt or a .toml file)")
    with project(project_dir) as proj, _progress("ingest", as_json) as bar:
        task = bar.add_task("ingest", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            summary = ingest_paths(
                proj,
                [str(p) for p in paths],
                metadata=metadata,
                mapping=spec,
                workers=workers,
                dask=dask,
                actor=actor_name(actor),
                site=site,
                progress=advance,
            )
        except (IngestError, WorkerError) as exc:
            bar.stop()
            fail(str(exc))
    if as_json:
        print_json(summary.to_dict())
    else:
        _show(summary, proj.protocol.sop)


def _show_fsck(report: FsckReport) -> None:
    for line in report.repaired:
        console.print(f"[yellow]repaired:[/] {line}")
    for image_id, sha in report.missing[:MAX_SHOWN]:
        console.print(f"[red]missing[/]  {image_id}: file {sha[:16]}… is not in the store")
    for key, actual in report.altered[:MAX_SHOWN]:
        console.print(f"[red]altered[/]  {key[:16]}…: its bytes now hash to {actual[:16]}…")
    for key in report.extra[:MAX_SHOWN]:
        console.print(f"[yellow]extra[/]    {key[:16]}…: no record references it")
    if report.pending:
        console.print(
            f"[yellow]pending[/]  {report.pending} store writes of an interrupted ingest "
            "(re-run the ingest or `dermset fsck --repair`)"
        )
    if report.temporary:
        console.print(f"[yellow]temporary[/] {report.temporary} files (`dermset fsck --repair`)")
    colour = "green" if report.ok else "red"
    console.print(
        f"[{colour}]{'clean' if report.ok else 'problems found'}[/]: "
        f"{report.images_checked} image records, {report.files_checked} files re-hashed; "
        f"{len(report.missing)} missing, {len(report.extra)} extra, "
        f"{len(report.altered)} altered"
    )


def fsck_command(
    repair: Annotated[
        bool,
        typer.Option(help="Delete unreferenced and temporary files; settle interrupted writes"),
    ] = False,
    project_dir: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash the image store against the registry: missing, extra and altered files."""
    with project(project_dir) as proj, _progress("fsck", as_json) as bar:
        task = bar.add_task("fsck", total=None)
        report = fsck(
            proj, repair=repair, progress=lambda d, t: bar.update(task, completed=d, total=t)
        )
    if as_json:
        print_json(report.to_dict())
    else:
        _show_fsck(report)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command("fsck")(fsck_command)
