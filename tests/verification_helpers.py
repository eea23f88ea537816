"""Building small registries for the verification tests (generated at test time)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata_import import import_table
from dermset.registry.project import Project
from dermset.registry.tables import Image


def write_csv(path: Path, rows: Sequence[dict[str, Any]], header: Sequence[str] | None = None):
    header = list(header or rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    return path


def make_images(
    project: Project,
    rows: Sequence[dict[str, Any]],
    *,
    mapping: str = "isic",
    site: str = "",
    name: str = "metadata.csv",
) -> dict[str, str]:
    """Import metadata rows through the real importer; returns source_id -> image_id."""
    path = write_csv(project.root / name, rows)
    report = import_table(project, path, load_mapping(mapping), actor="test", site=site)
    assert report.ok, [str(p) for p in report.errors]
    with project.db.read() as s:
        return dict(s.execute(select(Image.source_id, Image.image_id)).all())


def simple_images(project: Project, n: int, *, per_lesion: int = 1) -> list[str]:
    """n lesions with *per_lesion* images each, no stated label; returns image_ids in order."""
    rows = [
        {
            "isic_id": f"SRC_{i:04d}_{k}",
            "lesion_id": f"L{i:04d}",
            "age_approx": 45,
            "sex": "male",
            "anatom_site_general": "posterior torso",
        }
        for i in range(n)
        for k in range(per_lesion)
    ]
    ids = make_images(project, rows)
    return [ids[r["isic_id"]] for r in rows]
