"""Other datasets' metadata tables (HAM10000, PAD-UFES-20, ISIC) as model-field DataFrames.

Reuses the ingest table reader and the built-in mappings, so a table reads exactly as
``dermset validate`` would read it; rows that do not translate are counted, not fatal, because a
shift or an evaluation over 10,000 rows should not stop at one bad age.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata import TableReport, translate_table
from dermset.ingest.table_reader import TableError, open_table
from dermset.model.builtin_mappings import BUILTIN
from dermset.model.mappings import ColumnPlan, MappingSpec
from dermset.model.problems import Problem
from dermset.model.taxonomy import Taxonomy

FIELDS = (
    "patient_id",
    "lesion_id",
    "age_approx",
    "sex",
    "fitzpatrick_skin_type",
    "anatom_site_general",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
    "acquisition_device",
    "diagnosis_category",
    "benign_malignant",
    "diagnosis_confirm_type",
    "verification_stage",
)


class MetadataTableError(ValueError):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class MetadataTable:
    """A table translated into model fields, indexed by the source's image id."""

    name: str
    mapping: str
    frame: pd.DataFrame
    rows: int
    skipped: int
    skipped_reasons: Counter[str] = field(default_factory=Counter)


def detect_mapping(header: list[str]) -> MappingSpec | None:
    """The built-in mapping that fits a header best (all required columns, most columns used)."""
    best: tuple[int, MappingSpec] | None = None
    for spec in BUILTIN.values():
        plan = ColumnPlan(spec, header)
        if plan.missing_required or "diagnosis" not in plan.sources:
            continue
        score = len(plan.sources) - len(plan.unknown_columns)
        if best is None or score > best[0]:
            best = (score, spec)
    return best[1] if best else None


def read_metadata_table(
    path: str | Path, mapping: str | MappingSpec | None, taxonomy: Taxonomy
) -> MetadataTable:
    """Translate every row; untranslatable rows are skipped and counted by rule."""
    path = Path(path)
    try:
        table = open_table(path)
    except TableError as exc:
        raise MetadataTableError(exc.problem) from None
    if mapping is None:
        spec = detect_mapping(table.header)
        if spec is None:
            raise MetadataTableError(
                Problem(
                    f"cannot tell which dataset this table comes from; give --mapping "
                    f"({', '.join(sorted(BUILTIN))} or a mapping .toml)",
                    rule="mapping",
                    file=path.name,
                    row=1,
                )
            )
    else:
        spec = load_mapping(mapping) if isinstance(mapping, str) else mapping
    report = TableReport(file=path.name, mapping=spec.name)
    records: list[dict[str, object]] = []
    index: list[str] = []
    reasons: Counter[str] = Counter()
    for result in translate_table(table, spec, taxonomy, report):
        if not result.ok or result.source_id is None or result.record is None:
            errors = [p for p in result.problems if p.severity == "error"]
            reasons.update(f"{p.field or p.column}: {p.rule}" for p in errors[:1])
            continue
        rec = result.record.model_dump()
        row = {name: rec.get(name) for name in FIELDS}
        row["patient_id"] = result.patient_local
        row["lesion_id"] = result.lesion_local
        row["diagnosis_category"] = rec.get("diagnosis")
        records.append(row)
        index.append(result.source_id)
    fatal = [p for p in report.problems if p.row in (None, 1) and p.severity == "error"]
    if fatal:
        raise MetadataTableError(fatal[0])
    frame = pd.DataFrame.from_records(records, index=index, columns=list(FIELDS))
    frame = frame.astype(object).where(frame.notna(), None)
    frame["age_approx"] = pd.to_numeric(frame["age_approx"], errors="coerce").astype(float)
    return MetadataTable(
        path.name, spec.name, frame, report.rows, report.rows - len(frame), reasons
    )
