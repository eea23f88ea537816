"""ISIC notation: the release's ``metadata.csv`` and the contribution package for the ISIC Archive.

``metadata.csv`` is the published view (``isic_id``, ``age_approx``, the full ISIC diagnosis
term). The contribution package is what the ISIC Archive's upload takes back: the images and a
CSV with a ``filename`` column and ISIC's *upload* field names (``age``, not ``age_approx``;
ages stay in their published, rounded form). Both are checked with the Archive's own validator
(``isic-metadata``): every row, and the cross-row rule that a lesion belongs to one patient —
the same checks ``isic metadata validate`` (isic-cli) runs.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from isic_metadata.metadata import MetadataBatch, MetadataRow
from pydantic import ValidationError

from dermset.model.isic import isic_problems
from dermset.model.problems import Problem
from dermset.release.contents import METADATA_COLUMNS, ReleasedImage

CONTRIBUTION_DIR = "contribution"
#: the ISIC upload columns we fill, after ``filename``
CONTRIBUTION_COLUMNS = (
    "filename",
    "patient_id",
    "lesion_id",
    "age",
    "sex",
    "fitzpatrick_skin_type",
    "anatom_site_general",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
    "acquisition_day",
    "diagnosis",
    "diagnosis_confirm_type",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
    """A UTF-8 CSV with exactly *columns*; empty cells are missing values. Returns rows."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
            n += 1
    return n


def _batch_problems(items: list[MetadataRow], file: str) -> list[Problem]:
    try:
        MetadataBatch(items=items)
    except ValidationError as exc:
        return [
            Problem(
                f"{e['msg']} (e.g. {', '.join(map(str, e.get('ctx', {}).get('examples', [])))})",
                rule=str(e.get("type")),
                file=file,
            )
            for e in exc.errors()
        ]
    return []


def validate_published(
    images: Sequence[ReleasedImage], file: str = "metadata.csv"
) -> list[Problem]:
    """Every published row through the ISIC Archive's validator (and the lesion/patient rule)."""
    problems: list[Problem] = []
    ids: list[MetadataRow] = []
    for i, img in enumerate(images, start=2):
        for message in isic_problems(
            {k: v for k, v in img.row.items() if k not in ("filename", "diagnosis_category")}
        ):
            column = message.split(":", 1)[0]
            problems.append(
                Problem(message, rule="isic_metadata", file=file, row=i, column=column or None)
            )
        if img.row.get("patient_id") or img.row.get("lesion_id"):
            ids.append(
                MetadataRow(
                    patient_id=img.row.get("patient_id"), lesion_id=img.row.get("lesion_id")
                )
            )
    return problems + _batch_problems(ids, file)


def write_metadata(folder: Path, images: Sequence[ReleasedImage]) -> Path:
    path = folder / "metadata.csv"
    write_csv(path, METADATA_COLUMNS, (img.row for img in images))
    return path


def contribution_row(img: ReleasedImage) -> dict[str, Any]:
    row = {c: img.row.get(c) for c in CONTRIBUTION_COLUMNS if c not in ("filename", "age")}
    row["filename"] = img.filename
    row["age"] = img.row.get("age_approx")
    return row


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link when the file system allows it (no second copy of an image), else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_contribution(folder: Path, images: Sequence[ReleasedImage]) -> Path:
    """``contribution/metadata.csv`` (with ``filename``) and ``contribution/images/``."""
    out = folder / CONTRIBUTION_DIR
    (out / "images").mkdir(parents=True)
    for img in images:
        link_or_copy(folder / "images" / img.filename, out / "images" / img.filename)
    write_csv(out / "metadata.csv", CONTRIBUTION_COLUMNS, (contribution_row(i) for i in images))
    return out


def validate_contribution(folder: Path) -> list[Problem]:
    """Check a contribution package as the ISIC upload does, plus that every file is there."""
    csv_path = folder / "metadata.csv"
    file = f"{CONTRIBUTION_DIR}/metadata.csv"
    problems: list[Problem] = []
    with csv_path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if "filename" not in (reader.fieldnames or []):
            return [
                Problem(
                    "the ISIC upload needs a filename column",
                    rule="missing_column",
                    file=file,
                    row=1,
                    column="filename",
                )
            ]
        seen: set[str] = set()
        ids: list[MetadataRow] = []
        for i, row in enumerate(reader, start=2):
            name = row["filename"]
            if name in seen:
                problems.append(
                    Problem(
                        "file name repeats an earlier row",
                        rule="duplicate",
                        file=file,
                        row=i,
                        column="filename",
                        value=name,
                    )
                )
            seen.add(name)
            if not (folder / "images" / name).is_file():
                problems.append(
                    Problem(
                        "no such image in contribution/images",
                        rule="missing",
                        file=file,
                        row=i,
                        column="filename",
                        value=name,
                    )
                )
            if row.get("patient_id") or row.get("lesion_id"):
                ids.append(
                    MetadataRow(patient_id=row.get("patient_id"), lesion_id=row.get("lesion_id"))
                )
            fields = {k: v for k, v in row.items() if k != "filename"}
            try:
                MetadataRow.model_validate(fields)
            except ValidationError as exc:
                for e in exc.errors():
                    loc = e.get("loc") or ("",)
                    problems.append(
                        Problem(
                            e["msg"],
                            rule="isic_metadata",
                            file=file,
                            row=i,
                            column=str(loc[0]) or None,
                        )
                    )
    return problems + _batch_problems(ids, file)
