"""``data.parquet``: the release as one table that Hugging Face ``datasets`` loads with images.

Written with pyarrow, streaming in row groups so memory stays flat however large the release.
The image column is the struct ``{bytes, path}`` that ``datasets``' ``Image`` feature stores,
and the schema carries the ``huggingface`` feature description, so
``datasets.load_dataset("parquet", data_files="data.parquet")`` yields decoded images and typed
columns without any loading script. ``datasets`` itself is not needed to write it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dermset.release.contents import METADATA_COLUMNS, ReleasedImage

PARQUET_FILE = "data.parquet"
ROWS_PER_GROUP = 1000
_INT = ("age_approx", "acquisition_day")
_FLOAT = ("clin_size_long_diam_mm",)


def _arrow_type(column: str) -> pa.DataType:
    if column in _INT:
        return pa.int64()
    if column in _FLOAT:
        return pa.float64()
    return pa.string()


def _hf_feature(column: str) -> dict[str, Any]:
    dtype = "int64" if column in _INT else "float64" if column in _FLOAT else "string"
    return {"dtype": dtype, "_type": "Value"}


def schema(split_column: str | None) -> pa.Schema:
    columns = [c for c in METADATA_COLUMNS if c != "filename"]
    fields = [pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))]
    fields += [pa.field(c, _arrow_type(c)) for c in columns]
    features: dict[str, Any] = {"image": {"_type": "Image"}}
    features |= {c: _hf_feature(c) for c in columns}
    if split_column == "fold":
        fields.append(pa.field("fold", pa.int64()))
        features["fold"] = {"dtype": "int64", "_type": "Value"}
    elif split_column == "split":
        fields.append(pa.field("split", pa.string()))
        features["split"] = {"dtype": "string", "_type": "Value"}
    fields.append(pa.field("structures", pa.list_(pa.string())))
    features["structures"] = {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return pa.schema(fields, metadata=meta)


def write_parquet(
    folder: Path,
    images: Sequence[ReleasedImage],
    assignment: Sequence[int | str],
    structures: Sequence[dict[str, Any]],
) -> Path:
    """Write ``data.parquet`` from the release's ``images/`` (their bytes are embedded)."""
    split_column = None
    if assignment:
        split_column = "fold" if isinstance(assignment[0], int) else "split"
    found: dict[str, list[str]] = defaultdict(list)
    for s in structures:
        found[s["isic_id"]].append(s["structure"])
    sch = schema(split_column)
    names = [f.name for f in sch]
    path = folder / PARQUET_FILE
    with pq.ParquetWriter(path, sch, compression="zstd") as writer:
        for start in range(0, len(images), ROWS_PER_GROUP):
            chunk = images[start : start + ROWS_PER_GROUP]
            cols: dict[str, list[Any]] = {n: [] for n in names}
            for offset, img in enumerate(chunk):
                data = (folder / "images" / img.filename).read_bytes()
                cols["image"].append({"bytes": data, "path": f"images/{img.filename}"})
                for c in names:
                    if c in img.row:
                        cols[c].append(img.row[c])
                if split_column:
                    cols[split_column].append(assignment[start + offset])
                cols["structures"].append(found.get(img.isic_id, []))
            writer.write_table(pa.table(cols, schema=sch))
    return path
