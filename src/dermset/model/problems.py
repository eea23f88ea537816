"""A problem found in input: where it is (file, row, column/field), what was there, which rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    message: str
    rule: str
    file: str | None = None
    row: int | None = None  # the row as a spreadsheet numbers it: header = 1, first data row = 2
    column: str | None = None  # the source column, as the file names it
    field: str | None = None  # the information-model field it feeds
    value: Any = None
    severity: Severity = "error"

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column!r}")
        elif self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        value = "" if self.value is None else f" (value {_short(self.value)!r})"
        where = self.where()
        return f"{where}: {self.message}{value}" if where else f"{self.message}{value}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = None if self.value is None else _short(self.value)
        return d


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
