"""What an ingest reads: image files from paths and folders, and the metadata rows for them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dermset.ingest.metadata import TableReport, translate_table
from dermset.ingest.metadata_import import quarantine_row
from dermset.ingest.summary import IngestError, IngestSummary
from dermset.ingest.table_reader import TableError, open_table
from dermset.model.mappings import MappingSpec, RowResult
from dermset.registry.project import Project

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".heic", ".heif", ".hif"}


def iter_files(paths: Sequence[str | Path], summary: IngestSummary) -> Iterator[str]:
    """Files named, and image files in folders named (sorted; hidden files skipped)."""
    for p in paths:
        path = Path(p)
        if path.is_file():
            yield str(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        yield os.path.join(root, name)
                    else:
                        summary.skipped_files += 1
        else:
            raise IngestError(f"{p}: no such file or folder")


@dataclass
class MetadataRows:
    """Metadata rows by the file they describe: ``filename`` column, else the id as file stem."""

    by_name: dict[str, RowResult] = field(default_factory=dict)
    by_stem: dict[str, RowResult] = field(default_factory=dict)
    used: set[int] = field(default_factory=set)
    report: TableReport | None = None

    def match(self, name: str) -> RowResult | None:
        row = self.by_name.get(name) or self.by_name.get(name.casefold())
        if row is None:
            row = self.by_stem.get(Path(name).stem) or self.by_stem.get(Path(name).stem.casefold())
        if row is not None:
            self.used.add(row.row)
        return row

    def unmatched(self) -> int:
        rows = {r.row for r in self.by_name.values()} | {r.row for r in self.by_stem.values()}
        return len(rows - self.used)


def load_metadata(project: Project, path: str | Path, spec: MappingSpec) -> MetadataRows:
    path = Path(path)
    report = TableReport(file=path.name, mapping=spec.name)
    rows = MetadataRows(report=report)
    file_key = project.keys.filename(path.name)
    try:
        table = open_table(path)
    except TableError as exc:
        raise IngestError(str(exc.problem)) from None
    identifier_columns = {
        c for t in ("patient_id", "lesion_id", "filename") for c in spec.columns.get(t, [])
    }
    with project.db.session() as s:
        for result in translate_table(table, spec, project.protocol.taxonomy(), report):
            if not result.ok:
                report.quarantined += quarantine_row(s, result, spec, file_key, identifier_columns)
            if result.filename:
                name = Path(result.filename).name
                rows.by_name.setdefault(name, result)
                rows.by_name.setdefault(name.casefold(), result)
            if result.source_id:
                rows.by_stem.setdefault(result.source_id, result)
                rows.by_stem.setdefault(result.source_id.casefold(), result)
    if report.rows and not report.valid_rows and report.errors:
        first = report.errors[0]
        raise IngestError(f"no valid row in {path.name}; first problem: {first}")
    return rows
