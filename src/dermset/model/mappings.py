"""Mappings from other datasets' metadata tables onto the information model.

A mapping says which source column feeds which field, how source values translate into the
model's vocabularies, and which columns are known but unused. Built-in mappings cover the ISIC
Archive's CSV, HAM10000, PAD-UFES-20 and Derm7pt; users write their own in TOML with the same
keys (see ``docs/mappings.md``). Translating a row is pure: it yields an ``ImageRecord`` or the
problems that stop it, each naming row and column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dermset.model.ages import age_approx
from dermset.model.problems import Problem
from dermset.model.record import ImageRecord, validation_problems
from dermset.model.taxonomy import Taxonomy
from dermset.model.vocabularies import CONFIRM_TYPE_TO_STAGE

#: Targets a column can feed besides the 16 fields.
EXTRA_TARGETS = ("source_id", "age", "filename")
MISSING = ""  # a translation to "" means "no value"
MAX_FIELD_CHARS = 1000
_STAGE_OF_CONFIRM = {c.value: s.value for c, s in CONFIRM_TYPE_TO_STAGE.items()}


class MappingSpec(BaseModel):
    """A column mapping, as written in a mapping TOML file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    #: target -> source column names, first present wins ("age" takes an exact age)
    columns: dict[str, list[str]]
    #: targets whose several present columns are combined (only "max" for now)
    combine: dict[str, str] = Field(default_factory=dict)
    #: target -> {source value -> model value}; "" maps to missing
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: source columns that are known and deliberately not imported
    ignore: list[str] = Field(default_factory=list)
    #: targets that must have a column in the file
    required: list[str] = Field(default_factory=lambda: ["source_id"])
    #: the confirmation a label gets when the file states none
    default_confirm_type: str | None = None
    #: lesion ids are unique across the whole table (not only within a patient)
    lesion_ids_global: bool = True


@dataclass
class RowResult:
    """One translated source row."""

    row: int
    source_id: str | None
    patient_local: str | None
    lesion_local: str | None
    record: ImageRecord | None
    diagnosis_isic: str | None = None
    filename: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.record is not None and not any(p.severity == "error" for p in self.problems)


class ColumnPlan:
    """The mapping resolved against one file's header: which column feeds which target."""

    def __init__(self, spec: MappingSpec, header: list[str], file: str | None = None):
        self.spec = spec
        self.file = file
        present = set(header)
        self.sources: dict[str, list[str]] = {}
        for target, candidates in spec.columns.items():
            found = [c for c in candidates if c in present]
            if found:
                self.sources[target] = found if target in spec.combine else found[:1]
        used = {c for cols in self.sources.values() for c in cols}
        known = {c for cols in spec.columns.values() for c in cols} | set(spec.ignore)
        self.unknown_columns = [c for c in header if c not in known and c not in used]
        self.missing_required = [t for t in spec.required if t not in self.sources]

    def file_problems(self) -> list[Problem]:
        problems = [
            Problem(
                f"required column for {target!r} is missing; expected one of "
                f"{', '.join(self.spec.columns.get(target, [target]))}",
                rule="missing_column",
                file=self.file,
                field=target,
            )
            for target in self.missing_required
        ]
        problems += [
            Problem(
                f"column {c!r} is not part of mapping {self.spec.name!r} and is ignored",
                rule="unknown_column",
                file=self.file,
                column=c,
                severity="warning",
            )
            for c in self.unknown_columns
        ]
        return problems


def _clean(value: Any) -> str:
    if value.__class__ is str:
        return value.strip()
    if value is None:
        return MISSING
    if isinstance(value, float) and math.isnan(value):
        return MISSING
    return str(value).strip()


def _number(text: str) -> float:
    value = float(text)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(text)
    return value


class RowTranslator:
    """Turns raw rows (dicts of strings) into validated records under one plan and taxonomy.

    The per-column work is planned once per file (value tables folded, combine rules looked up)
    because this loop runs for every row of 100,000-row tables.
    """

    def __init__(self, plan: ColumnPlan, taxonomy: Taxonomy):
        self.plan = plan
        self.spec = plan.spec
        self.taxonomy = taxonomy
        self._context = {"taxonomy": taxonomy}
        self._steps = []
        for target, columns in plan.sources.items():
            table = self.spec.values.get(target) or {}
            folded = {k.casefold(): v for k, v in table.items()}
            self._steps.append((target, columns, table, folded, target in self.spec.combine))

    def _problem(self, problems: list[Problem], row: int, msg: str, rule: str, target: str,
                 column: str | None, value: Any) -> None:
        problems.append(Problem(msg, rule=rule, file=self.plan.file, row=row, column=column,
                                field=target, value=value))

    def translate(self, row_number: int, raw: MappingABC[str, Any]) -> RowResult:
        problems: list[Problem] = []
        values: dict[str, Any] = {}
        column_of: dict[str, str] = {}

        def problem(msg: str, rule: str, target: str, column: str | None, value: Any) -> None:
            self._problem(problems, row_number, msg, rule, target, column, value)

        for target, columns, table, folded, combine in self._steps:
            texts = []
            for col in columns:
                text = _clean(raw.get(col))
                if not text:
                    continue
                if len(text) > MAX_FIELD_CHARS:
                    problem(f"value is {len(text)} characters long (limit {MAX_FIELD_CHARS})",
                            "field_too_long", target, col, text)
                    continue
                if table:
                    text = table.get(text, folded.get(text.casefold(), text))
                if text:
                    texts.append((col, text))
            if not texts:
                continue
            column_of[target] = texts[0][0]
            if combine:
                try:
                    values[target] = max(_number(t) for _, t in texts)
                except ValueError:
                    col, text = texts[0]
                    problem("not a number", "number_parsing", target, col, text)
                continue
            values[target] = texts[0][1]

        source_id = values.pop("source_id", None)
        filename = values.pop("filename", None)
        patient_local = values.pop("patient_id", None)
        lesion_local = values.pop("lesion_id", None)
        if not self.spec.lesion_ids_global and lesion_local is not None:
            # lesion numbers count per patient: the lesion's key is "patient/lesion"
            lesion_local = f"{patient_local}/{lesion_local}"
        if source_id is None and "source_id" in self.spec.required:
            problem(
                "the image identifier is empty",
                "missing_value",
                "source_id",
                self.plan.sources.get("source_id", [None])[0],
                None,
            )

        if "age" in values:
            text = values.pop("age")
            try:
                values["age_approx"] = age_approx(_number(text))
            except ValueError:
                problem("age is not a number >= 0", "age", "age_approx", column_of.get("age"), text)
        elif "age_approx" in values:
            text = values["age_approx"]
            try:
                number = _number(text)
                values["age_approx"] = age_approx(number) if number > 85 else number
                if isinstance(values["age_approx"], float) and values["age_approx"].is_integer():
                    values["age_approx"] = int(values["age_approx"])
            except ValueError:
                pass  # left for the model's own type error, which names the field
        for numeric in ("clin_size_long_diam_mm", "acquisition_day"):
            if numeric in values and isinstance(values[numeric], str):
                try:
                    number = _number(values[numeric])
                    values[numeric] = int(number) if numeric == "acquisition_day" else number
                except ValueError:
                    pass

        diagnosis_isic = None
        dx = values.get("diagnosis")
        if isinstance(dx, str) and ":" in dx:
            diagnosis_isic = dx
        if "diagnosis_confirm_type" not in values and self.spec.default_confirm_type and dx:
            values["diagnosis_confirm_type"] = self.spec.default_confirm_type
        confirm = values.get("diagnosis_confirm_type")
        if confirm is not None:
            # an unknown confirm type is reported by the model, with its column
            stage = _STAGE_OF_CONFIRM.get(confirm)
            if stage is not None:
                values["verification_stage"] = stage

        record = None
        try:
            record = ImageRecord.model_validate(values, context=self._context)
        except ValidationError as exc:
            for p in validation_problems(exc):
                target = p["field"]
                col = column_of.get(target) or (
                    column_of.get("age") if target == "age_approx" else None
                )
                problem(
                    p["message"],
                    p["rule"] or "invalid",
                    target,
                    col,
                    values.get(target, p["value"]),
                )
        return RowResult(
            row_number,
            source_id,
            patient_local,
            lesion_local,
            record if not problems else None,
            diagnosis_isic,
            filename,
            problems,
        )


def builtin_names() -> list[str]:
    from dermset.model.builtin_mappings import BUILTIN  # defined with the types above

    return sorted(BUILTIN)
