"""`dermset release diff A B`: what changed between two releases.

Images are matched by public id (stable across releases of one project). Reported: images
added and removed, relabelled (another diagnostic category), re-staged (the same label now
confirmed by another verification stage, e.g. consensus → histopathology), and other metadata
changes per field. Only the released ``metadata.csv`` files are read, so a diff works on any
two release folders, also ones from another machine.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermset.release.contents import METADATA_COLUMNS

LABEL = "diagnosis_category"
STAGE = "verification_stage"


@dataclass
class ReleaseDiff:
    a: str
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: isic_id -> (category in A, category in B)
    relabelled: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: isic_id -> (stage in A, stage in B)
    restaged: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: field -> number of images whose value changed (labels and stages excluded)
    other_changes: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0

    @property
    def identical(self) -> bool:
        return not (
            self.added or self.removed or self.relabelled or self.restaged or self.other_changes
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "added": self.added,
            "removed": self.removed,
            "relabelled": [
                {"isic_id": k, "from": v[0], "to": v[1]} for k, v in self.relabelled.items()
            ],
            "restaged": [
                {"isic_id": k, "from": v[0], "to": v[1]} for k, v in self.restaged.items()
            ],
            "other_changes": dict(sorted(self.other_changes.items())),
            "unchanged": self.unchanged,
            "summary": self.summary(),
        }

    def summary(self) -> str:
        return (
            f"{len(self.added):,} added, {len(self.removed):,} removed, "
            f"{len(self.relabelled):,} relabelled, {len(self.restaged):,} re-staged, "
            f"{self.unchanged:,} unchanged"
        )


def _rows(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / "metadata.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a release (no metadata.csv)")
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["isic_id"]: row for row in csv.DictReader(fh)}


def diff_releases(
    a: Path, b: Path, *, a_name: str | None = None, b_name: str | None = None
) -> ReleaseDiff:
    rows_a, rows_b = _rows(a), _rows(b)
    out = ReleaseDiff(a_name or a.name, b_name or b.name)
    out.added = sorted(set(rows_b) - set(rows_a))
    out.removed = sorted(set(rows_a) - set(rows_b))
    compare = [c for c in METADATA_COLUMNS if c not in ("isic_id", "filename", LABEL, STAGE)]
    for image in sorted(set(rows_a) & set(rows_b)):
        ra, rb = rows_a[image], rows_b[image]
        changed = False
        if ra.get(LABEL) != rb.get(LABEL):
            out.relabelled[image] = (ra.get(LABEL, ""), rb.get(LABEL, ""))
            changed = True
        if ra.get(STAGE) != rb.get(STAGE):
            out.restaged[image] = (ra.get(STAGE, ""), rb.get(STAGE, ""))
            changed = True
        for c in compare:
            if c == "diagnosis" and image in out.relabelled:
                continue  # the ISIC term follows the category
            if c in ("benign_malignant", "diagnosis_confirm_type") and changed:
                continue  # they follow the label and the stage
            if ra.get(c, "") != rb.get(c, ""):
                out.other_changes[c] += 1
                changed = True
        out.unchanged += not changed
    return out
