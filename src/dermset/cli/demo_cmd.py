"""`dermset demo`: a synthetic study through every stage that exists, as a newcomer's tour.

Orchestration only: each step calls the same core functions as the commands named in its
heading, so what the demo shows is what those commands do.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dermset.cli.common import console, fail
from dermset.cli.evaluate_cmd import evaluate_baseline
from dermset.cli.ingest_cmd import _progress, _show
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.pipeline import ingest_paths
from dermset.registry.project import Project
from dermset.registry.summary import status as registry_status
from dermset.registry.tables import Image
from dermset.release.create import create_release
from dermset.report.dataset_report import build_report
from dermset.synthetic import DEFAULT_SIZE, MIN_SIZE, generate_cohort
from dermset.synthetic.reviewers import simulate_verification

MARKER = ".dermset-demo"


def _step(n: int, total: int, title: str, command: str) -> None:
    console.print()
    console.rule(f"[bold]Step {n}/{total} · {title}[/]", align="left")
    console.print(f"[dim]$ {command}[/]")


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            fail(f"{out} is not empty and is not an earlier demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `dermset demo`; safe to delete\n")


def _truth_by_image(project: Project, manifest) -> dict[str, str]:
    """True diagnosis per registry image, from the cohort's ground truth (by source id)."""
    lesion_dx = {les["lesion_id"]: les["diagnosis"] for les in manifest.lesions}
    source_dx = {img["image"]: lesion_dx.get(img["lesion_id"]) for img in manifest.images}
    with project.db.read() as s:
        rows = s.query(Image.image_id, Image.source_id).all()
    return {image_id: source_dx[src] for image_id, src in rows if source_dx.get(src)}


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the cohort, project and outputs")] = Path(
        "demo-out"
    ),
    size: Annotated[int, typer.Option(help="Records in the synthetic cohort")] = DEFAULT_SIZE,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same study)")] = 0,
    workers: Annotated[int | None, typer.Option(help="Ingest worker processes")] = None,
) -> None:
    """Generate a synthetic cohort and run every stage of dermset on it."""
    if size < MIN_SIZE:
        fail(f"--size must be at least {MIN_SIZE}: smaller cohorts cannot hold every planted case")
    started = time.perf_counter()
    total = 7
    out = out.resolve()
    _prepare_out(out)
    console.rule("[bold]dermset demo[/]")
    console.print(
        "A synthetic mobile-dermatoscopy study, end to end: capture → SOP checks and duplicate "
        "exclusion → clinical annotation, blinded consensus of three specialists, "
        f"histopathology. Everything lands in [bold]{out}[/].")

    _step(1, total, "Generate a synthetic cohort", "dermset.synthetic")
    manifest = generate_cohort(out / "cohort", size=size, seed=seed)
    c = manifest.counts
    console.print(
        f"{c['records']} records of {c['patients']} patients and {c['lesions']} lesions; planted: "
        f"{c['duplicates_excluded']} duplicates ({c['exact_duplicates']} exact, "
        f"{c['near_duplicates']} near), {c['sop_failures']} SOP failures, {c['bad_files']} broken "
        f"files, {c['second_captures']} second captures, {c['privacy_bait']} files with GPS/"
        f"serial-number EXIF. Truth: {manifest.truth_json}")

    _step(2, total, "Create the project", f"dermset init {out / 'project'}")
    project = Project.init(out / "project")
    try:
        console.print(f"protocol {project.protocol.name} v{project.protocol.version}: "
                      f"{len(project.protocol.categories)} categories, "
                      f"{project.protocol.review.reviewers} reviewers, consensus at "
                      f"{project.protocol.review.consensus_min_agree} agreeing")

        _step(3, total, "Ingest: decode, scrub, SOP checks, duplicates",
              "dermset ingest cohort/images --metadata cohort/metadata.csv --mapping isic")
        with _progress("ingest", False) as bar:
            task = bar.add_task("ingest", total=None)
            summary = ingest_paths(
                project, [manifest.images_dir], metadata=manifest.metadata_csv,
                mapping=load_mapping("isic"), workers=workers, actor="demo-clinician",
                progress=lambda d, t: bar.update(task, completed=d, total=t))
        _show(summary)
        console.print(
            f"[dim]the cohort's truth: {c['records']} records → {c['duplicates_excluded']} "
            f"duplicates → {c['sop_failures']} planted SOP failures → {c['bad_files']} broken "
            f"files → {c['images_passing_sop']} unique images. Differences are the checks' "
            "own errors (see docs/sop-calibration.md).[/]")

        _step(4, total, "Verification: clinician, three blinded reviewers, pathology",
              "dermset labels assign / import / adjudicate / status / agreement")
        result = simulate_verification(project, seed=seed,
                                       truth=_truth_by_image(project, manifest))
        for line in result.summary_lines():
            console.print(line)

        with project.db.read() as s:
            st = registry_status(s)
        t = Table(title="The registry now", show_edge=False)
        t.add_column("")
        t.add_column("count", justify="right")
        for key in ("records", "patients", "lesions", "images"):
            t.add_row(key, str(st[key]))
        for stage, n in st["by_verification_stage"].items():
            t.add_row(f"stage: {stage}", str(n))
        console.print(t)

        _step(5, total, "Report: the study's tables and figures",
              f"dermset report --out {out / 'report'}")
        html = build_report(project, out / "report")
        console.print(f"report {html} (stats.json and PNG/SVG figures beside it)")

        _step(6, total, "Release: versioned, de-identified, validated",
              "dermset release create --name demo-v1 --splits patient-kfold:5")
        release = create_release(project, "demo-v1", splits="patient-kfold:5",
                                 actor="demo-curator", seed=seed)
        info = json.loads((release / "release.json").read_text())
        console.print(f"release {release}: {info['counts'].get('images')} images; ISIC "
                      "metadata.csv, images, splits.csv, Parquet, croissant.json, datasheet, "
                      "BagIt bag, ISIC contribution package; de-identification gate passed")
    finally:
        project.close()

    _step(7, total, "Evaluate a baseline model on the release",
          f"dermset baseline {release} && dermset evaluate {release} predictions.csv")
    evaluate_baseline(release, out / "evaluation", seed=seed)
    console.print()
    console.print(f"[green]demo finished[/] in {time.perf_counter() - started:.0f} s. Explore: "
                  f"dermset status --project {out / 'project'}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
