"""Importing label files of an offline study: clinical annotations, reviews, histopathology.

File formats (CSV; header names are case-insensitive)::

    clinical        image_id | lesion_id, annotator, diagnosis [, structures, note]
    review          image_id, annotator, diagnosis [, confidence, structures, note]
    histopathology  lesion_id | image_id, diagnosis, report_date [, lab_reference, annotator]

Images are named by the registry's ``image_id`` or their ``source_id``; lesions by the site's
own lesion id (``--site``) or the registry's ``LES_`` pseudonym. Diagnoses may be taxonomy codes
or names, ISIC Archive diagnosis terms, or HAM10000 / PAD-UFES-20 codes. ``structures`` is a
``;``-separated list of the protocol's structure terms. A clinical row naming a lesion annotates
all of its images. Review files may carry the reviewer-visible metadata columns of a worksheet
(``dermset labels export --stage worksheet``); they are ignored.

A file is imported whole or not at all: every row is checked, every problem is reported with
its row and column and put on the quarantine list, and if there is any error nothing of the file
is kept. Importing the same file again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermset.ingest.table_reader import TableError, open_table
from dermset.model.problems import Problem
from dermset.registry import quarantine
from dermset.registry.project import Project
from dermset.registry.tables import Consensus, Histopathology, Lesion
from dermset.verification import lookup
from dermset.verification.clinical import clinical_annotate
from dermset.verification.errors import VerificationError
from dermset.verification.histopathology import enter_histopathology
from dermset.verification.label_format import STAGES, LabelImportReport, header_map
from dermset.verification.review import submit_review


class _Abort(Exception):
    """Raised inside the file's transaction to roll all of it back."""


@dataclass
class _Ctx:
    project: Project
    session: Session
    actor: str
    site: str
    amend: bool
    seen: dict[tuple[Any, ...], int]
    report: LabelImportReport


def _duplicate(ctx: _Ctx, key: tuple[Any, ...], row: int, what: str, field: str) -> None:
    first = ctx.seen.setdefault(key, row)
    if first != row:
        raise VerificationError(
            f"duplicate {what}: the same as row {first} of this file",
            rule="duplicate_row",
            field=field,
        )


def _clinical(ctx: _Ctx, row: int, v: dict[str, str]) -> list[str]:
    s, p = ctx.session, ctx.project
    if v.get("image_id"):
        images = [lookup.image(s, v["image_id"])]
    else:
        les = lookup.lesion(s, p.keys, v.get("lesion_id", ""), ctx.site)
        images = lookup.active_images_of(s, les.id)
        if not images:
            raise VerificationError(
                f"lesion {les.pseudonym} has no image in the dataset",
                rule="empty_lesion",
                field="lesion_id",
            )
    actions = []
    for img in images:
        _duplicate(ctx, ("clinical", img.id), row, f"annotation of {img.image_id}", "image_id")
        actions.append(
            clinical_annotate(
                s,
                p,
                image=img,
                annotator=v.get("annotator", ""),
                diagnosis=v.get("diagnosis", ""),
                structures=v.get("structures"),
                note=v.get("note"),
                actor=ctx.actor,
            ).action
        )
    return actions


def _confidence(text: str | None) -> int | None:
    raw = (text or "").strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise VerificationError(
            "confidence is not a whole number", rule="invalid_confidence", field="confidence"
        )
    return int(number)


def _review(ctx: _Ctx, row: int, v: dict[str, str]) -> list[str]:
    img = lookup.image(ctx.session, v.get("image_id", ""))
    reviewer = lookup.person(v.get("annotator"), "the reviewer")
    _duplicate(ctx, ("review", img.id, reviewer), row, f"review of {img.image_id}", "annotator")
    done = submit_review(
        ctx.session,
        ctx.project,
        image=img,
        reviewer=reviewer,
        diagnosis=v.get("diagnosis", ""),
        confidence=_confidence(v.get("confidence")),
        structures=v.get("structures"),
        note=v.get("note"),
        actor=ctx.actor,
        imported=True,
    )
    return [done.action]


def _histopathology(ctx: _Ctx, row: int, v: dict[str, str]) -> list[str]:
    s, p = ctx.session, ctx.project
    if v.get("lesion_id"):
        les = lookup.lesion(s, p.keys, v["lesion_id"], ctx.site)
    else:
        img = lookup.image(s, v.get("image_id", ""))
        les = s.get(Lesion, img.lesion_id) if img.lesion_id is not None else None
        if les is None:
            raise VerificationError(
                f"image {img.image_id} has no lesion record to attach a result to",
                rule="no_lesion",
                field="image_id",
            )
    _duplicate(ctx, ("histopathology", les.id), row, "result for this lesion", "lesion_id")
    entered = enter_histopathology(
        s,
        p,
        lesion=les,
        diagnosis=v.get("diagnosis", ""),
        report_date=v.get("report_date", ""),
        entered_by=v.get("annotator") or ctx.actor,
        lab_reference=v.get("lab_reference"),
        amend=ctx.amend,
    )
    return [entered.action]


_HANDLERS: dict[str, Callable[[_Ctx, int, dict[str, str]], list[str]]] = {
    "clinical": _clinical,
    "review": _review,
    "histopathology": _histopathology,
}


def _counts(session: Session) -> tuple[int, int, int]:
    n_cons = session.execute(
        select(func.count()).select_from(Consensus).where(Consensus.status == "consensus")
    ).scalar()
    n_adj = session.execute(
        select(func.count()).select_from(Consensus).where(Consensus.status != "consensus")
    ).scalar()
    n_over = session.execute(
        select(func.count())
        .select_from(Histopathology)
        .where(Histopathology.contradicts_consensus.is_(True))
    ).scalar()
    return n_cons or 0, n_adj or 0, n_over or 0


def import_labels(
    project: Project,
    path: str | Path,
    stage: str,
    *,
    actor: str,
    site: str = "",
    amend: bool = False,
) -> LabelImportReport:
    """Import one label file in one transaction (see the module doc)."""
    path = Path(path)
    report = LabelImportReport(file=path.name, stage=stage)
    if stage not in STAGES:
        report.problems.append(
            Problem(
                f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}",
                rule="unknown_stage",
                file=path.name,
            )
        )
        return report
    try:
        table = open_table(path)
    except TableError as exc:
        report.problems.append(exc.problem)
        _quarantine(project, path, stage, report.problems)
        return report
    columns, file_problems = header_map(table.header, stage, table.name)
    report.problems += table.problems + file_problems
    if report.errors:
        _quarantine(project, path, stage, report.errors)
        return report
    handler = _HANDLERS[stage]
    try:
        with project.db.session() as s:
            before = _counts(s)
            ctx = _Ctx(project, s, actor, site, amend, {}, report)
            for row_number, raw, problem in table.rows():
                report.rows += 1
                if raw is None:
                    assert problem is not None
                    report.problems.append(problem)
                    continue
                values = {c: raw[col].strip() for c, col in columns.items()}
                try:
                    with s.begin_nested():
                        actions = handler(ctx, row_number, values)
                except VerificationError as exc:
                    col = columns.get(exc.field or "", exc.field)
                    report.problems.append(
                        Problem(
                            str(exc),
                            rule=exc.rule,
                            file=table.name,
                            row=row_number,
                            column=col,
                            value=raw.get(col) if col in raw else None,
                        )
                    )
                    continue
                for action in actions:
                    if action in ("created",):
                        report.created += 1
                    elif action in ("updated", "amended"):
                        report.updated += 1
                    else:
                        report.unchanged += 1
            if report.errors:
                raise _Abort
            after = _counts(s)
            report.consensus_closed = after[0] - before[0]
            report.sent_to_adjudication = after[1] - before[1]
            report.histopathology_overrides = after[2] - before[2]
        report.committed = True
    except _Abort:
        report.created = report.updated = report.unchanged = 0
        _quarantine(project, path, stage, report.errors)
    return report


#: columns whose values may identify a patient outside dermset: never kept in the quarantine
PRIVATE_COLUMNS = {"lesion_id", "lesion", "lab_reference"}


def _quarantine(project: Project, path: Path, stage: str, problems: list[Problem]) -> None:
    key = project.keys.filename(path.name)
    with project.db.session() as s:
        for p in problems:
            if (p.column or "").lower() in PRIVATE_COLUMNS or p.field in PRIVATE_COLUMNS:
                p = replace(p, value=None)
            quarantine.add(
                s,
                kind="label_row" if p.row and p.row > 1 else "label_file",
                source_hmac=key,
                problem=p,
                details={"stage": stage},
            )
