"""``croissant.json``: the release described in Croissant (JSON-LD), with the Responsible-AI fields.

Built with ``mlcroissant``'s own node classes, so a description it cannot represent fails here
rather than in a reader's hands, and checked by loading it back with ``mlcroissant.Dataset``
and reading records. The ``images`` record set joins each file of ``images/`` to its row of
``metadata.csv`` by public id; ``structures`` and ``splits`` are record sets of their CSVs.
The Responsible-AI answers (collection, annotation protocol, biases, limitations, personal
information, maintenance) come from the protocol and the registry's counts.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import mlcroissant as mlc

CROISSANT_FILE = "croissant.json"
_TYPES = {
    "age_approx": mlc.DataType.INTEGER,
    "acquisition_day": mlc.DataType.INTEGER,
    "clin_size_long_diam_mm": mlc.DataType.FLOAT,
    "fold": mlc.DataType.INTEGER,
    "present": mlc.DataType.INTEGER,
}
_DESCRIPTIONS = {
    "isic_id": "Public image id of the release (stable across releases of one project).",
    "filename": "File of the image under images/.",
    "patient_id": "Pseudonymous patient id (keyed HMAC; not reversible without the project "
    "secret).",
    "lesion_id": "Pseudonymous lesion id (keyed HMAC).",
    "age_approx": "Age at capture, ISIC form: nearest 5 years, 85 means 85 or older.",
    "acquisition_day": "Capture day, shifted per patient: only intervals are real.",
    "diagnosis": "Fully qualified ISIC diagnosis term.",
    "diagnosis_category": "Category code of the study's taxonomy (see release.json).",
    "verification_stage": "Stage of the verification workflow that fixed the label.",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _csv_fields(record_set: str, file_id: str, columns: list[str]) -> list[mlc.Field]:
    return [
        mlc.Field(
            id=f"{record_set}/{c}",
            name=c,
            description=_DESCRIPTIONS.get(c),
            data_types=[_TYPES.get(c, mlc.DataType.TEXT)],
            source=mlc.Source(file_object=file_id, extract=mlc.Extract(column=c)),
        )
        for c in columns
    ]


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return fh.readline().strip().split(",")


def build_croissant(folder: Path, info: dict[str, Any], rai: dict[str, Any]) -> dict[str, Any]:
    """The Croissant JSON-LD of a release folder (files must already be written)."""
    distribution: list[mlc.FileObject | mlc.FileSet] = []
    record_sets: list[mlc.RecordSet] = []

    def csv_object(file_id: str, name: str, description: str) -> None:
        distribution.append(
            mlc.FileObject(
                id=file_id,
                name=file_id,
                description=description,
                content_url=name,
                encoding_formats=["text/csv"],
                sha256=_sha256(folder / name),
            )
        )

    csv_object("metadata-csv", "metadata.csv", "One row per image, ISIC notation.")
    formats = sorted({p.suffix.lower() for p in (folder / "images").iterdir()}) or [".jpg"]
    distribution.append(
        mlc.FileSet(
            id="image-files",
            name="image-files",
            description="The scrubbed images.",
            encoding_formats=[{".png": "image/png"}.get(f, "image/jpeg") for f in formats],
            includes=[f"images/*{f}" for f in formats],
        )
    )
    if (folder / "data.parquet").is_file():
        distribution.append(
            mlc.FileObject(
                id="data-parquet",
                name="data-parquet",
                content_url="data.parquet",
                encoding_formats=["application/x-parquet"],
                sha256=_sha256(folder / "data.parquet"),
                description="The same release as one table (Hugging Face datasets "
                "loads it with an Image feature).",
            )
        )
    columns = _csv_header(folder / "metadata.csv")
    image_fields = [
        mlc.Field(
            id="images/filename",
            name="filename",
            description="File of the image under images/ (joins each file to its row).",
            data_types=[mlc.DataType.TEXT],
            source=mlc.Source(
                file_set="image-files", extract=mlc.Extract(file_property=mlc.FileProperty.filename)
            ),
            references=mlc.Source(
                file_object="metadata-csv", extract=mlc.Extract(column="filename")
            ),
        ),
        mlc.Field(
            id="images/image",
            name="image",
            description="The image (dermoscopic photograph).",
            data_types=[mlc.DataType.IMAGE_OBJECT],
            source=mlc.Source(
                file_set="image-files", extract=mlc.Extract(file_property=mlc.FileProperty.content)
            ),
        ),
    ]
    image_fields += _csv_fields("images", "metadata-csv", [c for c in columns if c != "filename"])
    record_sets.append(
        mlc.RecordSet(
            id="images",
            name="images",
            key=["images/isic_id"],
            fields=image_fields,
            description="Each released image with its metadata.",
        )
    )
    for file_id, name, description in (
        ("structures-csv", "structures.csv", "Dermoscopic structures (IDS 2016) per image."),
        ("splits-csv", "splits.csv", "Patient-level split assignment (no patient in two folds)."),
    ):
        if (folder / name).is_file():
            csv_object(file_id, name, description)
            rs = file_id.removesuffix("-csv")
            record_sets.append(
                mlc.RecordSet(
                    id=rs,
                    name=rs,
                    description=description,
                    fields=_csv_fields(rs, file_id, _csv_header(folder / name)),
                )
            )
    record_sets.append(
        mlc.RecordSet(
            id="categories",
            name="categories",
            description="The diagnostic taxonomy of the release.",
            key=["categories/code"],
            fields=[
                mlc.Field(id=f"categories/{k}", name=k, data_types=[mlc.DataType.TEXT])
                for k in ("code", "name", "isic_diagnosis", "malignancy")
            ],
            data=[
                {f"categories/{k}": c[k] for k in ("code", "name", "isic_diagnosis", "malignancy")}
                for c in info["taxonomy"]
            ],
        )
    )
    metadata = mlc.Metadata(
        name=f"{info['name']}",
        description=info["description"],
        version=info["version_string"],
        date_published=datetime.fromisoformat(info["created_at"]),
        license=[info["license"]] if info.get("license") else None,
        cite_as=info.get("cite_as"),
        url=info.get("url"),
        keywords=["dermoscopy", "dermatology", "skin lesion", "ISIC", "medical imaging"],
        distribution=distribution,
        record_sets=record_sets,
        **rai,
    )
    return metadata.to_json()


def write_croissant(folder: Path, info: dict[str, Any], rai: dict[str, Any]) -> Path:
    path = folder / CROISSANT_FILE
    path.write_text(
        json.dumps(build_croissant(folder, info, rai), indent=2, ensure_ascii=False, default=str)
        + "\n",
        encoding="utf-8",
    )
    return path


def _sample_copy(path: Path, dest: Path, n: int) -> int:
    """A copy of the card over *n* of the release's images (their rows, files, structures,
    splits), with the CSVs' SHA-256 updated: mlcroissant reads every file of a file set before
    it yields the first record, so records are read from a sample, not from 100,000 images."""
    folder = path.parent
    card = json.loads(path.read_text(encoding="utf-8"))
    with (folder / "metadata.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(itertools.islice(csv.DictReader(fh), n))
    ids = {r["isic_id"] for r in rows}
    (dest / "images").mkdir(parents=True)
    for r in rows:
        os.symlink((folder / "images" / r["filename"]).resolve(), dest / "images" / r["filename"])
    for obj in card.get("distribution", []):
        url = obj.get("contentUrl")
        if not url or not url.endswith(".csv"):
            if url:
                os.symlink((folder / url).resolve(), dest / url)
            continue
        with (folder / url).open(encoding="utf-8", newline="") as fh:
            lines = [line for i, line in enumerate(fh) if i == 0 or line.split(",", 1)[0] in ids]
        (dest / url).write_text("".join(lines), encoding="utf-8")
        obj["sha256"] = _sha256(dest / url)
    (dest / path.name).write_text(json.dumps(card), encoding="utf-8")
    return len(rows)


def validate_croissant(path: Path, *, sample: int = 20) -> list[str]:
    """Validate the JSON-LD with mlcroissant and read every record set of a sample of it.

    The whole card goes through mlcroissant's static analysis; records (the join of image
    files and metadata rows included) are read from a copy over *sample* images. Returns the
    errors (empty: valid); recommendations of the static analysis are not errors.
    """
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # recommendations (licence, citation) are not errors
    try:
        mlc.Dataset(jsonld=str(path))
        with tempfile.TemporaryDirectory() as tmp:
            n = _sample_copy(path, Path(tmp), sample)
            dataset = mlc.Dataset(jsonld=str(Path(tmp) / path.name))
            for rs in dataset.metadata.record_sets:
                records = list(dataset.records(rs.id))
                if rs.id != "images":
                    continue
                joined = [
                    r
                    for r in records
                    if r.get("images/isic_id") is not None and r.get("images/image")
                ]
                if len(joined) != n:
                    return [
                        f"the images record set joins {len(joined)} of {n} image files to "
                        "their metadata.csv rows"
                    ]
    except (mlc.ValidationError, mlc.GenerationError) as exc:
        return [str(exc)]
    except Exception as exc:  # mlcroissant raises plain errors while reading records
        return [f"{type(exc).__name__}: {exc}"]
    finally:
        absl.setLevel(level)
    return []
