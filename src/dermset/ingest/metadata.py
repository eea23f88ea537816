"""Validating and importing metadata tables into the registry.

Validation is pure (file + mapping + taxonomy → problems). Import writes valid rows in one
transaction per file and sends invalid rows to quarantine; re-importing a file changes nothing,
because images are matched by the id their source gave them and patients and lesions by their
pseudonyms.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermset.ingest.table_reader import Table, TableError, open_table
from dermset.model.mappings import ColumnPlan, MappingSpec, RowResult, RowTranslator
from dermset.model.problems import Problem
from dermset.model.taxonomy import Taxonomy


@dataclass
class TableReport:
    """What a validation or an import found in one file."""

    file: str
    mapping: str
    rows: int = 0
    valid_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    # import only
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    patients_created: int = 0
    lesions_created: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def invalid_rows(self) -> int:
        return self.rows - self.valid_rows

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "mapping": self.mapping,
            "rows": self.rows,
            "valid_rows": self.valid_rows,
            "invalid_rows": self.invalid_rows,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
            "patients_created": self.patients_created,
            "lesions_created": self.lesions_created,
            "problems": [p.to_dict() for p in self.problems],
        }


class _CrossRowChecks:
    """Rules that span rows: one id per image, one patient per lesion, stable patient facts."""

    def __init__(self, file: str, global_lesions: bool):
        self.file = file
        self.global_lesions = global_lesions
        self.source_rows: dict[str, int] = {}
        self.lesion_patient: dict[str, tuple[str | None, int]] = {}
        self.patient_facts: dict[str, dict[str, tuple[Any, int]]] = {}

    def check(self, result: RowResult) -> list[Problem]:
        out: list[Problem] = []
        if result.source_id is not None:
            first = self.source_rows.setdefault(result.source_id, result.row)
            if first != result.row:
                out.append(
                    Problem(
                        f"image id repeats the one at row {first}",
                        rule="duplicate_id",
                        file=self.file,
                        row=result.row,
                        field="source_id",
                        value=result.source_id,
                    )
                )
        rec = result.record
        if result.lesion_local is not None:
            seen = self.lesion_patient.setdefault(
                result.lesion_local, (result.patient_local, result.row)
            )
            if seen[0] != result.patient_local:
                out.append(
                    Problem(
                        f"lesion also appears under another patient at row {seen[1]}; it is kept "
                        "with the first patient",
                        rule="lesion_multiple_patients",
                        file=self.file,
                        row=result.row,
                        field="lesion_id",
                        severity="warning",
                    )
                )
        if result.patient_local is not None and rec is not None:
            facts = self.patient_facts.setdefault(result.patient_local, {})
            for name in ("sex", "fitzpatrick_skin_type"):
                value = getattr(rec, name)
                if value is None:
                    continue
                first = facts.setdefault(name, (value, result.row))
                if first[0] != value:
                    out.append(
                        Problem(
                            f"{name} differs from {first[0]!r} given for this patient at row "
                            f"{first[1]}; the first value is kept",
                            rule="patient_conflict",
                            file=self.file,
                            row=result.row,
                            field=name,
                            value=value,
                            severity="warning",
                        )
                    )
        return out


def translate_table(
    table: Table, spec: MappingSpec, taxonomy: Taxonomy, report: TableReport
) -> Iterator[RowResult]:
    """Yield every row's translation; problems are appended to *report* as they are found."""
    plan = ColumnPlan(spec, table.header, file=table.name)
    report.problems.extend(table.problems)
    report.problems.extend(plan.file_problems())
    if plan.missing_required:
        return
    translator = RowTranslator(plan, taxonomy)
    cross = _CrossRowChecks(table.name, spec.lesion_ids_global)
    for row_number, raw, problem in table.rows():
        report.rows += 1
        if raw is None:
            assert problem is not None
            report.problems.append(problem)
            yield RowResult(row_number, None, None, None, None, problems=[problem])
            continue
        result = translator.translate(row_number, raw)
        extra = cross.check(result) if result.record is not None else []
        result.problems.extend(extra)
        if any(p.severity == "error" for p in extra):
            result.record = None
        report.problems.extend(result.problems)
        if result.ok:
            report.valid_rows += 1
        yield result


def validate_table(path: str | Path, spec: MappingSpec, taxonomy: Taxonomy) -> TableReport:
    """Check a whole file without touching any registry."""
    report = TableReport(file=Path(path).name, mapping=spec.name)
    try:
        table = open_table(path)
    except TableError as exc:
        report.problems.append(exc.problem)
        return report
    for _ in translate_table(table, spec, taxonomy, report):
        pass
    return report


def problem_counts(report: TableReport) -> Counter[str]:
    return Counter(p.rule for p in report.problems)
