"""`dermset audit verify` and `dermset audit log`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from dermset.cli.common import JsonOpt, ProjectOpt, console, print_json, project
from dermset.registry.tables import AuditEvent

app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(project_dir: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Check the audit chain; exit 1 when an event was edited, inserted or deleted."""
    with project(project_dir) as proj, proj.db.read() as s:
        problems = proj.audit.verify(s)
        n = proj.audit.count(s)
    if as_json:
        print_json({"events": n, "intact": not problems, "problems": problems})
    elif problems:
        for p in problems:
            console.print(f"[red]✗[/] {p}")
        console.print(f"[bold red]audit log is NOT intact[/] ({len(problems)} problems)")
    else:
        console.print(f"[green]✓ audit log intact[/]: {n} events, chain and head verified")
    if problems:
        raise typer.Exit(1)


@app.command()
def log(
    project_dir: ProjectOpt = None,
    key: Annotated[str | None, typer.Option(help="Only events about this id")] = None,
    limit: Annotated[int, typer.Option(help="Newest N events")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show audit events (who, when, what, before, after)."""
    with project(project_dir) as proj, proj.db.read() as s:
        q = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if key:
            q = q.where(AuditEvent.entity_key == key)
        events = [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "entity": e.entity,
                "key": e.entity_key,
                "action": e.action,
                "changes": json.loads(e.changes),
            }
            for e in s.execute(q).scalars()
        ]
    if as_json:
        print_json(events)
        return
    t = Table(show_edge=False)
    for c in ("seq", "at", "actor", "what", "changes"):
        t.add_column(c, overflow="fold")
    for e in events:
        changes = "; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in e["changes"].items())
        t.add_row(
            str(e["seq"]),
            str(e["at"])[:19],
            e["actor"],
            f"{e['action']} {e['entity']} {e['key']}",
            changes,
        )
    console.print(t)
