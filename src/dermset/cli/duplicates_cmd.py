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
    bits = [f"{e.inliers} matched points"]
    if e.score is not None:
        bits.append(f"rigid to {e.score:.2f} px")
    if t.get("mirrored"):
        bits.append("mirrored")
    if t.get("rotation_deg") is not None and abs(t["rotation_deg"]) >= 1:
        bits.append(f"rotated {t['rotation_deg']:.0f}°")
    sx, sy = t.get("scale_x"), t.get("scale_y")
    if sx and sy and (abs(sx - 1) > 0.02 or abs(sy - 1) > 0.02):
        same = abs(sx - sy) <= 0.02 * max(sx, sy)
        bits.append(f"scaled ×{sx:.2f}" if same else f"scaled ×{sx:.2f} × {sy:.2f}")
    return "copy: " + ", ".join(bits) + f" (hash distance {e.hash_distance})"


def _why(group, image_id: str) -> str:
    """The evidence that ties *image_id* to its group: with the kept image if there is one."""
    links = [e for e in group.evidence if image_id in (e.a, e.b)]
    direct = [e for e in links if group.kept in (e.a, e.b)]
    if direct:
        return _describe(direct[0])
    if links:
        e = links[0]
        other = e.b if e.a == image_id else e.a
        return f"via {other}: {_describe(e)}"
    return "linked by an earlier decision"


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
    table.add_column("why it is a copy of the kept image")
    for g in groups:
        for i, image_id in enumerate(g.excluded):
            table.add_row(g.kept if i == 0 else "", image_id, _why(g, image_id))
        table.add_section()
    console.print(table)
    console.print("all evidence per pair: dermset duplicates --json")


def register(app: typer.Typer) -> None:
    app.command("duplicates")(duplicates)
