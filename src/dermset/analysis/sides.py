"""The two datasets of a shift analysis: a release, or another dataset's metadata table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dermset.analysis.tables import read_metadata_table
from dermset.model.taxonomy import Taxonomy
from dermset.release.reader import Release, is_release, load_release


@dataclass
class Side:
    """One dataset in a comparison."""

    name: str
    kind: str  # "release" | "table"
    metadata: pd.DataFrame  # model fields, indexed by image id
    taxonomy: Taxonomy
    image_paths: dict[str, Path] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def units(self, unit: str) -> pd.DataFrame:
        """One row per patient / lesion / image (the first image of each)."""
        meta = self.metadata
        if unit == "image":
            return meta
        keys = []
        for image, row in meta.iterrows():
            p, q = row.get("patient_id"), row.get("lesion_id")
            if unit == "patient" and isinstance(p, str):
                keys.append("p:" + p)
            elif isinstance(q, str):
                keys.append(f"l:{p}/{q}" if unit == "lesion" else "l:" + q)
            else:
                keys.append("i:" + str(image))
        return meta[~pd.Series(keys, index=meta.index).duplicated().to_numpy()]

    def unit_used(self, unit: str) -> str:
        meta = self.metadata
        if unit == "patient" and meta.get("patient_id", pd.Series(dtype=object)).notna().any():
            return "patient"
        if unit in ("patient", "lesion") and meta.get("lesion_id", pd.Series()).notna().any():
            return "lesion"
        return "image"


def side_from_release(release: Release) -> Side:
    return Side(
        release.name,
        "release",
        release.metadata,
        release.taxonomy,
        dict(release.image_paths),
        dict(release.masks),
    )


def load_side(path: str | Path, mapping: str | None, taxonomy: Taxonomy) -> Side:
    """A release folder, or a metadata table read through a mapping (detected if not given)."""
    if is_release(path):
        return side_from_release(load_release(path))
    table = read_metadata_table(path, mapping, taxonomy)
    notes = []
    if table.skipped:
        reasons = ", ".join(f"{k} ×{v}" for k, v in table.skipped_reasons.most_common(3))
        notes.append(
            f"{table.skipped} of {table.rows} rows of {table.name} could not be "
            f"translated and are left out ({reasons})"
        )
    return Side(f"{table.name} ({table.mapping})", "table", table.frame, taxonomy, notes=notes)
