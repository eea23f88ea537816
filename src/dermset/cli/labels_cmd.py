"""`dermset labels …`: the verification workflow for offline studies (files in, files out)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dermset.cli.common import (
    ActorOpt,
    JsonOpt,
    ProjectOpt,
    actor_name,
    console,
    fail,
    print_json,
    project,
)
from dermset.verification import (
    VerificationError,
    adjudicate,
    agreement_report,
    assign_reviewers,
    export_rows,
    import_labels,
    verification_status,
)
from dermset.verification.export import KINDS
from dermset.verification.label_format import STAGES, LabelImportReport

app = typer.Typer(
    help="Verification workflow: assign reviewers, import and export labels, consensus, "
    "adjudication, histopathology, agreement.",
    no_args_is_help=True,
)
MAX_SHOWN = 50


@app.command()
def assign(
    reviewer: Annotated[
        list[str],
        typer.Option("--reviewer", "-r", help="A reviewer of the pool (repeat for each)"),
    ],
    image: Annotated[
        list[str] | None,
        typer.Option("--image", help="Only these images (image_id or source id; repeatable)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Assign at most this many images")] = None,
    project_dir: ProjectOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give each image its N reviewers from the pool: balanced load, never its clinician."""
    with project(project_dir) as proj:
        try:
            with proj.db.session() as s:
                report = assign_reviewers(
                    s, proj, reviewer, actor=actor_name(actor), images=image or None, limit=limit
                )
        except VerificationError as exc:
            fail(str(exc))
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"assigned {report.assigned} reviews on {report.images_considered} images "
        f"({report.images_completed} now have all their reviewers)"
    )
    for line in report.skipped[:MAX_SHOWN]:
        console.print(f"[yellow]skipped[/] {line}")
    t = Table(title="Review load", show_edge=False)
    t.add_column("reviewer")
    t.add_column("assigned images", justify="right")
    for name, n in report.load.items():
        t.add_row(name, str(n))
    console.print(t)


def _show_import(report: LabelImportReport) -> None:
    if report.problems:
        t = Table(show_edge=False, title=f"Problems in {report.file}")
        for c in ("row", "column", "value", "problem"):
            t.add_column(c, overflow="fold")
        for p in report.problems[:MAX_SHOWN]:
            style = "red" if p.severity == "error" else "yellow"
            t.add_row(
                "" if p.row is None else str(p.row),
                p.column or p.field or "",
                "" if p.value is None else str(p.to_dict()["value"]),
                f"[{style}]{p.message}[/] ({p.rule})",
            )
        console.print(t)
        if len(report.problems) > MAX_SHOWN:
            console.print(f"… and {len(report.problems) - MAX_SHOWN} more (use --json for all)")
    if report.committed:
        console.print(
            f"[green]{report.file}[/]: {report.rows} rows imported as {report.stage} labels — "
            f"{report.created} new, {report.updated} changed, {report.unchanged} unchanged; "
            f"{report.consensus_closed} consensus closed, {report.sent_to_adjudication} sent to "
            f"adjudication, {report.histopathology_overrides} histopathology results overriding "
            "the consensus"
        )
    else:
        console.print(
            f"[red]{report.file}[/]: {len(report.errors)} error(s); nothing was imported "
            "(a label file is taken whole or not at all). Fix the rows above and import it again."
        )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Label file (CSV)")],
    stage: Annotated[str, typer.Option(help="clinical, review or histopathology")],
    site: Annotated[
        str, typer.Option(help="Namespace of the site's own lesion ids (as at metadata import)")
    ] = "",
    amend: Annotated[
        bool, typer.Option(help="Histopathology: replace results that differ (audited)")
    ] = False,
    project_dir: ProjectOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import clinical annotations, reviews or histopathology results; exit 1 on any error."""
    if stage not in STAGES:
        fail(f"--stage must be one of {', '.join(STAGES)}, not {stage!r}")
    with project(project_dir) as proj:
        report = import_labels(proj, file, stage, actor=actor_name(actor), site=site, amend=amend)
    if as_json:
        print_json(report.to_dict())
    else:
        _show_import(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def export(
    stage: Annotated[
        str,
        typer.Option(
            help="summary (one row per image, all stages), clinical, review, histopathology, "
            "or worksheet (a reviewer's blinded open queue)"
        ),
    ] = "summary",
    reviewer: Annotated[str | None, typer.Option(help="For --stage worksheet: whose queue")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
    project_dir: ProjectOpt = None,
) -> None:
    """Export labels as CSV (clinical, review and histopathology exports import back)."""
    if stage not in KINDS:
        fail(f"--stage must be one of {', '.join(KINDS)}, not {stage!r}")
    if stage == "worksheet" and not reviewer:
        fail("a worksheet is made for one reviewer: add --reviewer NAME")
    with project(project_dir) as proj, proj.db.read() as s:
        try:
            header, rows = export_rows(s, proj, stage, reviewer=reviewer)
            fh = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
            try:
                writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
                writer.writeheader()
                n = 0
                for row in rows:
                    writer.writerow(row)
                    n += 1
            finally:
                if out:
                    fh.close()
        except VerificationError as exc:
            fail(str(exc))
    if out:
        console.print(f"wrote {n} rows to {out}")


def _ci(ci: list[float | None]) -> str:
    if ci[0] is None:
        return "—"
    return f"{ci[0]:.2f}–{ci[1]:.2f}"


def _num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


@app.command()
def status(project_dir: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Progress per stage and the release gate (what still blocks a release)."""
    with project(project_dir) as proj, proj.db.read() as s:
        data = verification_status(s, proj.protocol)
        n = proj.protocol.review.reviewers
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{data['images']}[/] images in the dataset")
    t = Table(title="Verification stage", show_edge=False)
    t.add_column("stage")
    t.add_column("images", justify="right")
    for stage, k in data["by_verification_stage"].items():
        t.add_row(stage, str(k))
    console.print(t)
    console.print(
        f"stage 1  clinical annotations: {data['clinical_annotated']} of {data['images']} images"
    )
    console.print(
        f"stage 2  {data['assigned_images']} images with reviewers assigned ({n} per image), "
        f"{data['unassigned_images']} without; {data['reviews_submitted']} reviews submitted, "
        f"{data['open_reviews']} open; consensus {data['consensus']}, adjudicated "
        f"{data['adjudicated']}, waiting for adjudication {data['open_adjudications']}"
    )
    console.print(
        f"stage 3  {data['lesions_requiring_histopathology']} lesions need histopathology; "
        f"{data['histopathology_results']} results entered "
        f"({data['histopathology_overrides']} overrode the consensus); "
        f"{data['malignant_without_histopathology']} still missing"
    )
    if data["reviewers"]:
        t = Table(title="Reviewers", show_edge=False)
        for c in ("reviewer", "assigned", "submitted", "open"):
            t.add_column(c, justify="left" if c == "reviewer" else "right")
        for name, v in data["reviewers"].items():
            t.add_row(
                name, str(v["assigned"]), str(v["submitted"]), str(v["assigned"] - v["submitted"])
            )
        console.print(t)
    if not data["release_blocked"]:
        console.print("[bold green]release gate: open[/] — nothing blocks a release")
        return
    kinds = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in data["blockers_by_kind"].items())
    console.print(
        f"[bold red]release gate: closed[/] — {data['blockers_total']} blockers ({kinds})"
    )
    for b in data["blockers"][:20]:
        console.print(f"  {b['kind'].replace('_', ' ')}: {b['ref']} — {b['detail']}")
    if data["blockers_total"] > 20:
        console.print(f"  … and {data['blockers_total'] - 20} more (use --json for all)")


@app.command()
def agreement(
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples for the confidence intervals")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap")] = 0,
    project_dir: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Inter-reviewer agreement: Fleiss' kappa, Krippendorff's alpha, Cohen's kappa, per class."""
    with project(project_dir) as proj, proj.db.read() as s:
        data: dict[str, Any] = agreement_report(
            s, proj.protocol, n_bootstrap=bootstrap, seed=seed
        ).to_dict()
        taxonomy = proj.protocol.taxonomy()
    if as_json:
        print_json(data)
        return
    if not data["n_images"]:
        console.print("no image has all its reviews yet; nothing to measure")
        return
    level = round(data["confidence_level"] * 100)
    console.print(
        f"Agreement of {len(data['reviewers'])} reviewers on {data['n_images']} "
        f"image{'s' if data['n_images'] != 1 else ''} "
        f"({data['raters_per_image']} reviews each; {level}% bootstrap intervals over images, "
        f"{data['n_bootstrap']} resamples)"
    )
    console.print(
        f"  Fleiss' kappa         {_num(data['fleiss_kappa'], 3)}  ({_ci(data['fleiss_kappa_ci'])})"
    )
    console.print(
        f"  Krippendorff's alpha  {_num(data['krippendorff_alpha'], 3)}  "
        f"({_ci(data['krippendorff_alpha_ci'])})"
    )
    cons = data["consensus"]
    console.print(
        f"  consensus {cons.get('consensus', 0)}, adjudication {cons.get('adjudication', 0)}, "
        f"adjudicated {cons.get('adjudicated', 0)}; unanimous {cons.get('unanimous', 0)}; "
        f"mean agreement {_num(cons.get('mean_agreement'))}"
    )
    t = Table(title="Cohen's kappa, pairs of reviewers", show_edge=False)
    for c in ("reviewer", "reviewer", "images", "kappa", f"{level}% CI"):
        t.add_column(c)
    for p in data["pairwise_cohen_kappa"]:
        t.add_row(p["a"], p["b"], str(p["n"]), _num(p["kappa"]), _ci(p["kappa_ci"]))
    console.print(t)
    t = Table(title="Per category", show_edge=False)
    for c in ("category", "name", "ratings", "kappa", "specific agreement"):
        t.add_column(c)
    for code, v in data["per_class"].items():
        name = taxonomy[code].name if code in taxonomy.codes else ""
        t.add_row(code, name, str(v["ratings"]), _num(v["kappa"]), _num(v["specific_agreement"]))
    console.print(t)
    if not (data["reviewer_vs_consensus"] or data["reviewer_vs_histopathology"]):
        return
    t = Table(title="Each reviewer against the reference", show_edge=False)
    for c in ("reviewer", "reference", "images", "accuracy", "kappa", f"{level}% CI"):
        t.add_column(c)
    for ref, key in (
        ("consensus", "reviewer_vs_consensus"),
        ("histopathology", "reviewer_vs_histopathology"),
    ):
        for name, v in data[key].items():
            t.add_row(
                name, ref, str(v["n"]), _num(v["accuracy"]), _num(v["kappa"]), _ci(v["kappa_ci"])
            )
    console.print(t)


@app.command("adjudicate")
def adjudicate_cmd(
    image_id: Annotated[str, typer.Argument(help="The image waiting for adjudication")],
    diagnosis: Annotated[str, typer.Option(help="The decided diagnosis (taxonomy term)")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit log)")],
    role: Annotated[
        str | None,
        typer.Option(help="The role you act in (default: the protocol's adjudicator role)"),
    ] = None,
    project_dir: ProjectOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Decide an image the reviewers disagreed on (the protocol's adjudicator)."""
    with project(project_dir) as proj:
        try:
            with proj.db.session() as s:
                row = adjudicate(
                    s,
                    proj,
                    image=image_id,
                    adjudicator=actor_name(actor),
                    diagnosis=diagnosis,
                    reason=reason,
                    role=role or proj.protocol.review.adjudicator_role,
                )
                decided = row.diagnosis
        except VerificationError as exc:
            fail(str(exc))
    console.print(f"[green]{image_id}[/]: adjudicated as {decided}")
