"""Prediction and ground-truth files in the ISIC challenge format, read with clear errors.

A prediction file has a column ``image`` (the release's ``isic_id``; a trailing ``.jpg`` is
ignored, as the ISIC scorer does) and one probability column per category. Columns may be in
another taxonomy — a HAM10000 model's ``MEL,NV,BCC,AKIEC,BKL,DF,VASC`` — and are resolved onto
the release's categories through the taxonomy's aliases or an explicit ``COLUMN=CODE`` map;
columns that land on the same category are summed. Every bad cell is reported with its row (as a
spreadsheet numbers it) and column, all at once, so a user fixes the file in one pass.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dermset.ingest.table_reader import TableError, open_table
from dermset.model.problems import Problem
from dermset.model.taxonomy import Taxonomy, UnknownDiagnosis

IMAGE_COLUMNS = ("image", "isic_id", "image_name")
WEIGHT_COLUMNS = ("score_weight", "validation_weight")
SUM_TOLERANCE = 0.01  # float32 softmax outputs written with 4-6 decimals sum to 1 ± 1e-3
MAX_LISTED = 5
SHOWN = 10  # problems spelled out in a message; all of them stay on the exception


class PredictionError(ValueError):
    """A prediction or truth file the evaluation cannot use; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:SHOWN])
        more = ""
        if len(problems) > SHOWN:
            rules = Counter(p.rule for p in problems)
            more = f"\n  … {len(problems) - SHOWN} more; in all: " + ", ".join(
                f"{n} × {rule}" for rule, n in rules.most_common()
            )
        super().__init__(f"{len(problems)} problem(s):\n  {shown}{more}")


@dataclass
class ProbabilityTable:
    """Validated probabilities: one row per image, columns in file order."""

    file: str
    images: list[str]
    columns: list[str]
    values: np.ndarray  # images × columns, float64 in [0, 1]
    weights: np.ndarray | None = None  # ISIC truth files may carry score_weight
    rows: dict[str, int] = field(default_factory=dict)  # image -> spreadsheet row


def strip_image_suffix(name: str) -> str:
    lower = name.lower()
    for suffix in (".jpg", ".jpeg", ".png", ".tif", ".tiff"):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _listed(items: list[str]) -> str:
    head = ", ".join(items[:MAX_LISTED])
    return head + (f" … ({len(items)} in all)" if len(items) > MAX_LISTED else "")


def read_probability_table(
    path: str | Path, *, kind: str = "predictions", check_sum: bool = True
) -> ProbabilityTable:
    """Read ``image`` + probability columns; every malformed cell becomes a Problem."""
    path = Path(path)
    try:
        table = open_table(path)
    except TableError as exc:
        raise PredictionError([exc.problem]) from None
    name = table.name
    problems = [p for p in table.problems if p.severity == "error"]
    image_col = next((c for c in IMAGE_COLUMNS if c in table.header), None)
    if image_col is None:
        raise PredictionError(
            [
                Problem(
                    f"no image column; the ISIC challenge format names images in a column "
                    f"'image' (found: {_listed(table.header)})",
                    rule="missing_column",
                    file=name,
                    row=1,
                    column="image",
                )
            ]
        )
    weight_cols = [c for c in WEIGHT_COLUMNS if c in table.header and kind == "truth"]
    columns = [c for c in table.header if c != image_col and c not in weight_cols and c]
    if not columns:
        raise PredictionError(
            [Problem("no probability columns", rule="missing_column", file=name, row=1)]
        )
    images: list[str] = []
    rows: dict[str, int] = {}
    values: list[list[float]] = []
    weights: list[float] = []
    for row_number, raw, problem in table.rows():
        if raw is None:
            problems.append(problem)  # type: ignore[arg-type]
            continue
        image = strip_image_suffix(raw[image_col].strip())
        if not image:
            problems.append(
                Problem(
                    "image id is empty",
                    rule="missing_value",
                    file=name,
                    row=row_number,
                    column=image_col,
                )
            )
            continue
        if image in rows:
            problems.append(
                Problem(
                    f"image {image!r} repeats row {rows[image]}",
                    rule="duplicate_image",
                    file=name,
                    row=row_number,
                    column=image_col,
                )
            )
            continue
        row_values = []
        ok = True
        for col in columns:
            text = raw[col].strip()
            try:
                number = float(text)
            except ValueError:
                number = math.nan
                msg = "missing probability" if not text else "not a number"
                problems.append(
                    Problem(
                        msg,
                        rule="number_parsing",
                        file=name,
                        row=row_number,
                        column=col,
                        value=text or None,
                    )
                )
                ok = False
            else:
                if math.isnan(number) or math.isinf(number):
                    problems.append(
                        Problem(
                            "probability is NaN or infinite",
                            rule="nan",
                            file=name,
                            row=row_number,
                            column=col,
                            value=text,
                        )
                    )
                    ok = False
                elif not 0.0 <= number <= 1.0:
                    problems.append(
                        Problem(
                            "probability outside [0, 1]",
                            rule="out_of_range",
                            file=name,
                            row=row_number,
                            column=col,
                            value=text,
                        )
                    )
                    ok = False
            row_values.append(number)
        if ok and check_sum and abs(sum(row_values) - 1.0) > SUM_TOLERANCE:
            problems.append(
                Problem(
                    f"probabilities sum to {sum(row_values):.4g}, not 1 (tolerance "
                    f"{SUM_TOLERANCE}); write one softmax row per image",
                    rule="sum_not_one",
                    file=name,
                    row=row_number,
                )
            )
        weight = 1.0
        for wcol in weight_cols[:1]:
            try:
                weight = float(raw[wcol])
            except ValueError:
                problems.append(
                    Problem(
                        "not a number",
                        rule="number_parsing",
                        file=name,
                        row=row_number,
                        column=wcol,
                        value=raw[wcol],
                    )
                )
        rows[image] = row_number
        images.append(image)
        values.append(row_values)
        weights.append(weight)
    if not images and not problems:
        problems.append(Problem("file has no data rows", rule="empty_file", file=name))
    if problems:
        raise PredictionError(problems)
    return ProbabilityTable(
        file=name,
        images=images,
        columns=columns,
        values=np.asarray(values, dtype=float),
        weights=np.asarray(weights, dtype=float) if weight_cols else None,
        rows=rows,
    )


def resolve_columns(
    columns: list[str],
    codes: list[str],
    taxonomy: Taxonomy,
    explicit: Mapping[str, str] | None = None,
    *,
    file: str | None = None,
) -> dict[str, str | None]:
    """Which category each probability column predicts (None: deliberately dropped).

    Order: an explicit ``COLUMN=CODE`` (``COLUMN=`` drops it), the column named as a code, then
    any spelling the taxonomy (or the default taxonomy) knows — ``AKIEC`` → ``AK``.
    """
    explicit = dict(explicit or {})
    default = Taxonomy.default()
    out: dict[str, str | None] = {}
    problems = []
    for col in columns:
        if col in explicit:
            target = explicit[col].strip() or None
            if target is not None and target not in codes:
                problems.append(
                    Problem(
                        f"--map {col}={target}: {target!r} is not a category "
                        f"of the release ({', '.join(codes)})",
                        rule="unknown_class",
                        file=file,
                        row=1,
                        column=col,
                    )
                )
            out[col] = target
            continue
        if col in codes:
            out[col] = col
            continue
        target = None
        for tax in (taxonomy, default):
            try:
                code = tax.resolve(col).code
            except UnknownDiagnosis:
                continue
            if code in codes:
                target = code
                break
        if target is None:
            problems.append(
                Problem(
                    f"unknown class column; expected categories {', '.join(codes)} or a known "
                    f"alias (map it with --map {col}=CODE, or drop it with --map {col}=)",
                    rule="unknown_class",
                    file=file,
                    row=1,
                    column=col,
                )
            )
        out[col] = target
    if problems:
        raise PredictionError(problems)
    return out


@dataclass
class Predictions:
    """Probabilities on the target categories, aligned to a list of images."""

    file: str
    images: list[str]
    codes: list[str]  # target categories (the truth's)
    probabilities: np.ndarray  # images × codes
    covered: list[str]  # categories at least one column predicts
    column_map: dict[str, str | None]


def align_predictions(
    table: ProbabilityTable,
    codes: list[str],
    taxonomy: Taxonomy,
    expected_images: Collection[str],
    explicit: Mapping[str, str] | None = None,
) -> Predictions:
    """Map columns onto *codes* and check the images match the truth exactly."""
    column_map = resolve_columns(table.columns, codes, taxonomy, explicit, file=table.file)
    expected = list(expected_images)
    expected_set = set(expected)
    problems = [
        Problem(
            "image is not in the ground truth / release",
            rule="unknown_image",
            file=table.file,
            row=table.rows[image],
            column="image",
            value=image,
        )
        for image in table.images
        if image not in expected_set
    ]
    given = set(table.images)
    missing = [i for i in expected if i not in given]
    if missing:
        problems.append(
            Problem(
                f"{len(missing)} image(s) of the ground truth have no prediction: "
                f"{_listed(missing)}",
                rule="missing_image",
                file=table.file,
                column="image",
            )
        )
    if problems:
        raise PredictionError(problems)
    position = {image: i for i, image in enumerate(table.images)}
    order = np.asarray([position[i] for i in expected], dtype=int)
    probs = np.zeros((len(expected), len(codes)))
    for j, col in enumerate(table.columns):
        target = column_map[col]
        if target is not None:
            probs[:, codes.index(target)] += table.values[order, j]
    covered = [c for c in codes if c in set(column_map.values())]
    return Predictions(table.file, expected, codes, probs, covered, column_map)


def parse_column_map(items: list[str] | None) -> dict[str, str]:
    """``["AKIEC=AK", "UNK="]`` → ``{"AKIEC": "AK", "UNK": ""}``."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise PredictionError(
                [
                    Problem(
                        f"--map {item!r}: write COLUMN=CODE (or COLUMN= to drop a column)",
                        rule="map_syntax",
                    )
                ]
            )
        col, code = item.split("=", 1)
        out[col.strip()] = code.strip()
    return out


@dataclass
class Truth:
    """Ground truth in the ISIC format: one-hot columns per category."""

    file: str
    images: list[str]
    codes: list[str]
    labels: np.ndarray  # index into codes


def truth_from_table(table: ProbabilityTable) -> Truth:
    """One-hot rows → labels; rows that are not one-hot are errors; score_weight 0 drops a row."""
    problems = []
    keep = np.ones(len(table.images), dtype=bool)
    if table.weights is not None:
        keep &= table.weights > 0
    labels = np.full(len(table.images), -1)
    for i, image in enumerate(table.images):
        if not keep[i]:
            continue
        row = table.values[i]
        hot = np.flatnonzero(row > 0.5)
        if len(hot) != 1 or not np.all((row == 0) | (row == 1)):
            problems.append(
                Problem(
                    "ground truth row must be one-hot (a single 1, every other column 0)",
                    rule="not_one_hot",
                    file=table.file,
                    row=table.rows[image],
                    column=", ".join(table.columns),
                    value=",".join(f"{v:g}" for v in row),
                )
            )
            continue
        labels[i] = hot[0]
    if problems:
        raise PredictionError(problems)
    images = [im for im, k in zip(table.images, keep, strict=True) if k]
    return Truth(table.file, images, list(table.columns), labels[keep])
