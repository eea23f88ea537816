"""Importing a metadata table into the registry, idempotently and with audit.

Valid rows are written in batches through :class:`RecordWriter`; invalid rows go to quarantine
with their reasons. The whole file is one transaction: an interrupt or a crash leaves the
registry as it was, and running the import again is safe.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from dermset.ingest.metadata import TableReport, translate_table
from dermset.ingest.table_reader import TableError, open_table
from dermset.model.mappings import MappingSpec, RowResult
from dermset.registry import quarantine
from dermset.registry.project import Project
from dermset.registry.record_writer import ImageInput, RecordWriter

BATCH = 2000


def row_input(result: RowResult) -> ImageInput:
    assert result.record is not None
    return ImageInput(
        record=result.record,
        source_id=result.source_id,
        patient_local=result.patient_local,
        lesion_local=result.lesion_local,
        diagnosis_isic=result.diagnosis_isic,
    )


def quarantine_row(
    s, result: RowResult, spec: MappingSpec, file_key: str, identifier_columns: set[str]
) -> int:
    added = 0
    for problem in result.problems:
        if problem.severity != "error":
            continue
        details = {"source_id": result.source_id, "mapping": spec.name}
        if problem.column and problem.column not in identifier_columns and problem.value:
            details["value"] = str(problem.value)[:200]
        added += quarantine.add(
            s, kind="table_row", source_hmac=file_key, problem=problem, details=details
        )
    return added


def import_table(
    project: Project,
    path: str | Path,
    spec: MappingSpec,
    *,
    actor: str,
    site: str = "",
    source: str | None = None,
) -> TableReport:
    """Import one table: valid rows into the registry, invalid rows into quarantine."""
    path = Path(path)
    report = TableReport(file=path.name, mapping=spec.name)
    file_key = project.keys.filename(path.name)
    try:
        table = open_table(path)
    except TableError as exc:
        report.problems.append(exc.problem)
        with project.db.session() as s:
            quarantine.add(s, kind="table", source_hmac=file_key, problem=exc.problem)
        return report
    identifier_columns = {
        c for t in ("patient_id", "lesion_id", "filename") for c in spec.columns.get(t, [])
    }
    with project.db.session() as s:
        if not project.db.is_sqlite:  # one writer at a time numbers new images
            s.execute(text("LOCK TABLE image IN SHARE ROW EXCLUSIVE MODE"))
        writer = RecordWriter(project, s, actor=actor, source=source or spec.name, site=site)
        batch: list[ImageInput] = []
        for result in translate_table(table, spec, project.protocol.taxonomy(), report):
            if result.ok:
                batch.append(row_input(result))
                if len(batch) >= BATCH:
                    writer.write(batch)
                    batch.clear()
            else:
                report.quarantined += quarantine_row(s, result, spec, file_key, identifier_columns)
        if batch:
            writer.write(batch)
        c = writer.counts
        report.imported, report.updated, report.unchanged = c.imported, c.updated, c.unchanged
        report.patients_created, report.lesions_created = c.patients_created, c.lesions_created
    return report
