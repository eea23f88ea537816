"""`dermset duplicates`: the duplicate groups, each with its kept image and the evidence."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dermset.cli.common import ActorOpt, JsonOpt, ProjectOpt, actor_name, console, print_json
from dermset.cli.common import project as open_project


def _describe(e) -> str:
    if e.kind == "exact":
        return "identical pixels"
    t = e.transform or {}
    bits = [f"hash distance {e.hash_distance}", f"{e.inliers} matched points"]
    if e.score is not None:
        bits.append(f"rigid to {e.score:.2f} px")
    if t.get("mirrored"):
        bits.append("mirrored")
    if t.get("rotation_deg") is not None and abs(t["rotation_deg"]) >= 1:
        bits.append(f"rotated {t['rotation_deg']:.0f}°")
    if t.get("scale_x"):
        bits.append(f"scale {t['scale_x']:.2f}×{t['scale_y']:.2f}")
    return "near copy: " + ", ".join(bits)


def duplicates(
    project_dir: ProjectOpt = None,
    json_out: JsonOpt = False,
    rescan: Annotated[
        bool,
        typer.Option(
            "--rescan",
            help="Search the whole registry again (e.g. after records were added without "
            "`dermset ingest`) before listing.",
        ),
    ] = False,
    actor: ActorOpt = None,
) -> None:
    """List the duplicate groups: the kept image, the excluded ones, and why."""
    from dermset.ingest.dedup import resolve_duplicates
    from dermset.ingest.dedup.listing import list_groups

    with open_project(project_dir) as proj:
        if rescan:
            report = resolve_duplicates(proj, actor=actor_name(actor))
            if not json_out:
                console.print(
                    f"searched again: {report.candidates} candidate pairs, {report.verified} "
                    f"verified on pixels, {report.excluded} images newly excluded"
                )
        with proj.db.read() as s:
            groups = list_groups(s)
    if json_out:
        print_json([g.as_dict() for g in groups])
        return
    n_excluded = sum(len(g.excluded) for g in groups)
    if not groups:
        console.print("no duplicate groups")
        return
    table = Table(title=f"{len(groups)} duplicate groups, {n_excluded} images excluded")
    table.add_column("kept")
    table.add_column("excluded")
    table.add_column("evidence")
    for g in groups:
        table.add_row(
            g.kept,
            "\n".join(g.excluded),
            "\n".join(f"{e.a} ~ {e.b}: {_describe(e)}" for e in g.evidence),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("duplicates")(duplicates)
