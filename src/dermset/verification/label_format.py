"""The label-file formats: which columns each stage takes, and the report of an import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dermset.model.fields import FIELD_NAMES
from dermset.model.problems import Problem
from dermset.verification.reviewer import WITHHELD

Stage = Literal["clinical", "review", "histopathology"]
STAGES: tuple[str, ...] = ("clinical", "review", "histopathology")

#: accepted columns per stage: canonical name -> spellings (lower case)
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "clinical": {
        "image_id": ("image_id", "image", "isic_id"),
        "lesion_id": ("lesion_id", "lesion"),
        "annotator": ("annotator", "clinician"),
        "diagnosis": ("diagnosis", "dx"),
        "structures": ("structures",),
        "note": ("note", "notes"),
    },
    "review": {
        "image_id": ("image_id", "image", "isic_id"),
        "annotator": ("annotator", "reviewer"),
        "diagnosis": ("diagnosis", "dx"),
        "confidence": ("confidence",),
        "structures": ("structures",),
        "note": ("note", "notes"),
    },
    "histopathology": {
        "lesion_id": ("lesion_id", "lesion"),
        "image_id": ("image_id", "image", "isic_id"),
        "diagnosis": ("diagnosis", "dx"),
        "report_date": ("report_date", "date"),
        "lab_reference": ("lab_reference",),
        "annotator": ("annotator", "pathologist", "entered_by"),
    },
}
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "clinical": (("image_id", "lesion_id"), ("annotator",), ("diagnosis",)),
    "review": (("image_id",), ("annotator",), ("diagnosis",)),
    "histopathology": (("lesion_id", "image_id"), ("diagnosis",), ("report_date",)),
}


@dataclass
class LabelImportReport:
    file: str
    stage: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    consensus_closed: int = 0
    sent_to_adjudication: int = 0
    histopathology_overrides: int = 0
    committed: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "stage": self.stage,
            "rows": self.rows,
            "committed": self.committed,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "consensus_closed": self.consensus_closed,
            "sent_to_adjudication": self.sent_to_adjudication,
            "histopathology_overrides": self.histopathology_overrides,
            "errors": len(self.errors),
            "problems": [p.to_dict() for p in self.problems],
        }


def header_map(header: list[str], stage: str, file: str) -> tuple[dict[str, str], list[Problem]]:
    """canonical column -> the file's column, and the file-level problems."""
    spellings = COLUMNS[stage]
    lower = {h.lower(): h for h in header if h}
    found: dict[str, str] = {}
    problems: list[Problem] = []
    for canonical, names in spellings.items():
        for n in names:
            if n in lower:
                found[canonical] = lower[n]
                break
    known = {n for names in spellings.values() for n in names}
    context = set()
    if stage == "review":  # a filled-in worksheet carries the metadata the reviewer saw
        context = {"source", "progress"} | set(_worksheet_context())
    unknown = [h for h in header if h and h.lower() not in known and h.lower() not in context]
    if unknown:
        problems.append(
            Problem(
                f"unknown column(s) {', '.join(unknown)} for a {stage} file; expected "
                + ", ".join(spellings),
                rule="unknown_column",
                file=file,
                row=1,
                column=unknown[0],
            )
        )
    for alternatives in REQUIRED[stage]:
        if not any(a in found for a in alternatives):
            problems.append(
                Problem(
                    f"required column {' or '.join(alternatives)} is missing",
                    rule="missing_column",
                    file=file,
                    row=1,
                    field=alternatives[0],
                )
            )
    return found, problems


def _worksheet_context() -> list[str]:
    return [f for f in FIELD_NAMES if f not in WITHHELD]
