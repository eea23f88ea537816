"""`dermset report` and `dermset release create | list | diff | verify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dermset.cli.common import (
    ActorOpt,
    JsonOpt,
    ProjectOpt,
    actor_name,
    console,
    err_console,
    print_json,
    project,
)
from dermset.release.create import (
    DEFAULT_SPLITS,
    RELEASE_JSON,
    ReleaseRefused,
    create_release,
    list_releases,
    locate_release,
    verify_release,
)
from dermset.release.datasheet import DatasheetError
from dermset.release.diff import diff_releases
from dermset.release.gate import DeidentificationError
from dermset.release.splits import SplitError
from dermset.report.dataset_report import STATS_JSON, build_report

app = typer.Typer(
    help="Immutable, versioned dataset releases: create, list, diff, verify.",
    no_args_is_help=True,
)
BootstrapOpt = Annotated[
    int, typer.Option("--bootstrap", help="Bootstrap resamples for the agreement intervals.")
]


def _refuse(exc: Exception) -> None:
    err_console.print(f"[bold red]refused:[/] {escape(str(exc))}")
    raise typer.Exit(2)


def report(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report")],
    project_dir: ProjectOpt = None,
    bootstrap: BootstrapOpt = 1000,
    as_json: JsonOpt = False,
) -> None:
    """The study's tables and figures: report.html, stats.json and figures/ (PNG + SVG)."""
    with project(project_dir) as proj:
        html = build_report(proj, out, n_bootstrap=bootstrap)
    stats = json.loads((out / STATS_JSON).read_text(encoding="utf-8"))
    if as_json:
        print_json({"report": str(html), "stats": str(out / STATS_JSON), **stats})
        return
    console.print(stats["flow_line"])
    d = stats["diagnosis"]["malignant"]
    console.print(
        f"{d['lesions']:,} malignant lesions, {d['histopathology_lesions']:,} histologically "
        f"verified; labels confirmed by: "
        + (
            ", ".join(f"{k} {v:,}" for k, v in stats["verification"]["by_stage"].items())
            or "none yet"
        )
    )
    n_fig = len(list((out / "figures").glob("*.svg")))
    console.print(
        f"[green]report[/] {html}  ·  stats {out / STATS_JSON}  ·  {n_fig} figures "
        f"in {out / 'figures'} (PNG and SVG)"
    )


def create(
    name: Annotated[str, typer.Option("--name", "-n", help="Release name, e.g. v1 or 2026-03")],
    splits: Annotated[
        str,
        typer.Option(help="patient-kfold:K, holdout:F (patient-level), or none"),
    ] = DEFAULT_SPLITS,
    seed: Annotated[int, typer.Option(help="Seed of the split")] = 0,
    license: Annotated[
        str | None, typer.Option("--license", help="SPDX licence id, e.g. CC-BY-NC-4.0")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Parent folder (default: PROJECT/releases)")
    ] = None,
    dicom: Annotated[
        bool, typer.Option("--dicom", help="Also write DICOM Dermoscopic Photography images")
    ] = False,
    project_dir: ProjectOpt = None,
    actor: ActorOpt = None,
    bootstrap: BootstrapOpt = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the verified dataset as an immutable, versioned release folder."""
    with project(project_dir) as proj:
        try:
            folder = create_release(
                proj,
                name,
                splits=splits,
                seed=seed,
                license=license,
                out_dir=out,
                actor=actor_name(actor),
                n_bootstrap=bootstrap,
                dicom=dicom,
            )
        except (ReleaseRefused, DeidentificationError, SplitError, DatasheetError) as exc:
            _refuse(exc)
    info = json.loads((folder / RELEASE_JSON).read_text(encoding="utf-8"))
    if as_json:
        print_json({"path": str(folder), **info})
        return
    c = info["counts"]
    console.print(
        f"[green]Release {info['name']}[/] (version {info['version']}): "
        f"{c['images']:,} images of {c['patients']:,} patients and {c['lesions']:,} "
        f"lesions → {folder}"
    )
    if info["excluded"]:
        console.print(
            "not released: " + ", ".join(f"{k} {v:,}" for k, v in info["excluded"].items())
        )
    parts = info["splits"].get("parts")
    if parts:
        t = Table(
            title=f"Splits: {info['splits']['spec']} (no patient in two folds)", show_edge=False
        )
        t.add_column("fold")
        t.add_column("images", justify="right")
        t.add_column("patients", justify="right")
        t.add_column("categories")
        for k, v in parts.items():
            t.add_row(
                k,
                f"{v['images']:,}",
                f"{v['patients']:,}",
                " ".join(f"{c}:{n}" for c, n in v["by_category"].items()),
            )
        console.print(t)
    console.print(
        "checked: ISIC validator (metadata.csv, contribution/), mlcroissant, "
        "de-identification gate; sealed read-only with manifest.json and bag/"
    )


def list_cmd(project_dir: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """The project's releases, oldest first."""
    with project(project_dir) as proj:
        rows = list_releases(proj)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no releases yet; make one with `dermset release create --name v1`")
        return
    t = Table(show_edge=False)
    for col in ("version", "name", "created", "by", "images", "splits", "folder"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r["version"] or ""),
            r["name"],
            r["created_at"][:16],
            r["created_by"],
            f"{r['images']:,}",
            r["splits"] or "",
            r["location"] + ("" if r["present"] else "  [red](missing)[/]"),
        )
    console.print(t)


def diff(
    a: Annotated[str, typer.Argument(help="Older release: name or folder")],
    b: Annotated[str, typer.Argument(help="Newer release: name or folder")],
    project_dir: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="Images listed per kind of change")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two releases: added, removed, relabelled, re-staged images."""
    try:
        with project(project_dir) as proj:
            pa, pb = locate_release(proj, a), locate_release(proj, b)
    except ReleaseRefused as exc:
        _refuse(exc)
    result = diff_releases(pa, pb, a_name=a, b_name=b)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"[bold]{a} → {b}[/]: {result.summary()}")

    def show(title: str, ids: list[str], detail=None) -> None:
        if not ids:
            return
        console.print(f"{title} ({len(ids):,}):")
        for image in ids[:limit]:
            console.print(f"  {image}" + (f"  {detail(image)}" if detail else ""))
        if len(ids) > limit:
            console.print(f"  … and {len(ids) - limit:,} more (--json lists all)")

    show("added", result.added)
    show("removed", result.removed)
    show(
        "relabelled",
        list(result.relabelled),
        lambda i: f"{result.relabelled[i][0]} → {result.relabelled[i][1]}",
    )
    show(
        "re-staged",
        list(result.restaged),
        lambda i: f"{result.restaged[i][0] or 'none'} → {result.restaged[i][1] or 'none'}",
    )
    if result.other_changes:
        console.print(
            "other metadata changes: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(result.other_changes.items()))
        )


def verify(
    ref: Annotated[str, typer.Argument(help="Release name or folder")],
    project_dir: ProjectOpt = None,
) -> None:
    """Re-hash every file against manifest.json and validate the BagIt bag."""
    try:
        with project(project_dir) as proj:
            folder = locate_release(proj, ref)
    except ReleaseRefused as exc:
        _refuse(exc)
    problems = verify_release(folder)
    if problems:
        for p in problems[:50]:
            err_console.print(f"[red]✗[/] {escape(p)}")
        err_console.print(f"[bold red]{ref} is not intact[/]: {len(problems)} problems")
        raise typer.Exit(1)
    console.print(
        f"[green]{ref} is intact[/]: every file matches manifest.json and the bag validates"
    )


app.command()(create)
app.command("list")(list_cmd)
app.command()(diff)
app.command()(verify)


def register(root: typer.Typer) -> None:
    root.command()(report)
    root.add_typer(app, name="release")
