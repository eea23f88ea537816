"""Reading a release folder: the one input of evaluate, shift and interpret.

The layout is the contract in ``docs/dev/interfaces.md`` (``release.json``, ``metadata.csv``,
``images/``, ``structures.csv``, ``masks/``, ``splits.csv``). Reading checks what the analyses rely
on — unique ids, a known category for every image, files that exist — and reports a broken
release with the file, row and column, never with a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from dermset.model.problems import Problem
from dermset.model.taxonomy import Taxonomy, UnknownDiagnosis

RELEASE_JSON = "release.json"
METADATA_CSV = "metadata.csv"
STRUCTURES_CSV = "structures.csv"
SPLITS_CSV = "splits.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
NUMERIC_COLUMNS = ("age_approx", "clin_size_long_diam_mm", "acquisition_day")


class ReleaseError(ValueError):
    """The folder is not a readable release; carries the problems found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(shown + more)


@dataclass
class Release:
    """A release as the analyses see it; ``metadata`` is indexed by ``isic_id``."""

    path: Path
    info: dict[str, Any]
    taxonomy: Taxonomy
    metadata: pd.DataFrame
    image_paths: dict[str, Path] = field(default_factory=dict)
    structures: pd.DataFrame | None = None
    masks: dict[str, Path] = field(default_factory=dict)
    splits: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        name = self.info.get("name") or self.path.name
        version = self.info.get("version")
        return f"{name} {version}" if version else str(name)

    @property
    def ids(self) -> list[str]:
        return list(self.metadata.index)


def is_release(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / METADATA_CSV).is_file()


def read_text_table(path: Path) -> pd.DataFrame:
    """A CSV read as text (empty cells → missing); the same on pandas 2.2+ and 3."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReleaseError(
            [Problem(f"cannot be read as a CSV table: {exc}", rule="unreadable", file=path.name)]
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.apply(lambda col: col.str.strip())
    return frame.mask(frame == "")


def with_default_spellings(taxonomy: Taxonomy) -> Taxonomy:
    """Give a release's categories the aliases and ISIC prefixes of the default category with
    the same code, so "akiec" or "Seborrheic keratosis" resolve as they would in a project
    (release.json lists code, name, ISIC term and malignancy only)."""
    default = {c.code: c for c in Taxonomy.default().categories}
    cats = []
    for cat in taxonomy.categories:
        base = default.get(cat.code)
        if base is not None:
            cat = replace(
                cat,
                aliases=cat.aliases or base.aliases,
                isic_prefixes=cat.isic_prefixes or base.isic_prefixes,
            )
        cats.append(cat)
    return Taxonomy(tuple(cats))


def _taxonomy(info: dict[str, Any], file: str) -> Taxonomy:
    rows = info.get("taxonomy")
    if not rows:
        return Taxonomy.default()
    try:
        return with_default_spellings(Taxonomy.from_dicts(rows))
    except (KeyError, ValueError, TypeError) as exc:
        raise ReleaseError(
            [Problem(f"taxonomy is malformed: {exc}", rule="taxonomy", file=file)]
        ) from None


def _categories(meta: pd.DataFrame, taxonomy: Taxonomy) -> list[Problem]:
    """Fill ``diagnosis_category`` from ``diagnosis`` where a release gives only the ISIC term."""
    problems: list[Problem] = []
    if "diagnosis_category" not in meta.columns:
        meta["diagnosis_category"] = pd.Series(pd.NA, index=meta.index, dtype=object)
    codes = set(taxonomy.codes)
    out = []
    for row, (code, term) in enumerate(
        zip(meta["diagnosis_category"], meta.get("diagnosis", [None] * len(meta)), strict=True),
        start=2,
    ):
        value = None
        if isinstance(code, str):
            if code in codes:
                value = code
            else:
                problems.append(
                    Problem(
                        f"category is not in the release taxonomy ({', '.join(taxonomy.codes)})",
                        rule="unknown_category",
                        file=METADATA_CSV,
                        row=row,
                        column="diagnosis_category",
                        value=code,
                    )
                )
        elif isinstance(term, str):
            try:
                value = taxonomy.resolve(term).code
            except UnknownDiagnosis as exc:
                problems.append(
                    Problem(
                        str(exc),
                        rule="unknown_diagnosis",
                        file=METADATA_CSV,
                        row=row,
                        column="diagnosis",
                        value=term,
                    )
                )
        out.append(value)
    meta["diagnosis_category"] = pd.Series(out, index=meta.index, dtype=object)
    return problems


def _index_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        p.stem: p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    }


def load_release(path: str | Path, *, require_images: bool = False) -> Release:
    """Read a release folder; raises ReleaseError naming file, row and column."""
    root = Path(path)
    if not root.is_dir():
        raise ReleaseError([Problem("release folder not found", rule="not_found", file=str(root))])
    info: dict[str, Any] = {}
    if (root / RELEASE_JSON).is_file():
        try:
            info = json.loads((root / RELEASE_JSON).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ReleaseError(
                [Problem(f"not valid JSON: {exc}", rule="json", file=RELEASE_JSON)]
            ) from None
    if not (root / METADATA_CSV).is_file():
        raise ReleaseError(
            [Problem(f"{root} has no {METADATA_CSV}; is it a release?", rule="not_found")]
        )
    taxonomy = _taxonomy(info, RELEASE_JSON)
    meta = read_text_table(root / METADATA_CSV)
    problems: list[Problem] = []
    if "isic_id" not in meta.columns:
        raise ReleaseError(
            [
                Problem(
                    "required column is missing",
                    rule="missing_column",
                    file=METADATA_CSV,
                    row=1,
                    column="isic_id",
                )
            ]
        )
    for row, image in enumerate(meta["isic_id"], start=2):
        if not isinstance(image, str):
            problems.append(
                Problem(
                    "image id is empty",
                    rule="missing_value",
                    file=METADATA_CSV,
                    row=row,
                    column="isic_id",
                )
            )
    dupes = meta["isic_id"][meta["isic_id"].duplicated() & meta["isic_id"].notna()]
    for idx, image in dupes.items():
        problems.append(
            Problem(
                "image id repeats an earlier row",
                rule="duplicate_id",
                file=METADATA_CSV,
                row=int(idx) + 2,
                column="isic_id",
                value=image,
            )
        )
    for column in NUMERIC_COLUMNS:
        if column in meta.columns:
            numbers = pd.to_numeric(meta[column], errors="coerce")
            for idx in meta.index[numbers.isna() & meta[column].notna()]:
                problems.append(
                    Problem(
                        "not a number",
                        rule="number_parsing",
                        file=METADATA_CSV,
                        row=int(idx) + 2,
                        column=column,
                        value=meta.at[idx, column],
                    )
                )
            meta[column] = numbers.astype(float)
    problems += _categories(meta, taxonomy)
    if problems:
        raise ReleaseError(problems)
    meta = meta.set_index("isic_id", drop=False)
    meta.index.name = None

    files = _index_files(root / "images")
    image_paths: dict[str, Path] = {}
    for image in meta.index:
        name = meta.at[image, "filename"] if "filename" in meta.columns else None
        candidate = root / "images" / name if isinstance(name, str) else None
        if candidate is not None and candidate.is_file():
            image_paths[image] = candidate
        elif image in files:
            image_paths[image] = files[image]
    if require_images:
        missing = [i for i in meta.index if i not in image_paths]
        if missing:
            raise ReleaseError(
                [
                    Problem(
                        f"{len(missing)} images have no file in images/ (first: {missing[0]})",
                        rule="missing_image",
                        file=METADATA_CSV,
                    )
                ]
            )

    structures = None
    if (root / STRUCTURES_CSV).is_file():
        structures = read_text_table(root / STRUCTURES_CSV)
        need = {"isic_id", "structure"}
        if not need <= set(structures.columns):
            raise ReleaseError(
                [
                    Problem(
                        f"needs columns {sorted(need)}",
                        rule="missing_column",
                        file=STRUCTURES_CSV,
                        row=1,
                    )
                ]
            )
        if "present" in structures.columns:
            flags = structures["present"].fillna("1").str.casefold()
            structures = structures[flags.isin({"1", "true", "yes", "1.0"})]
        structures = structures[structures["isic_id"].isin(meta.index)].reset_index(drop=True)

    splits = read_text_table(root / SPLITS_CSV) if (root / SPLITS_CSV).is_file() else None
    masks = {k: v for k, v in _index_files(root / "masks").items() if k in meta.index}
    return Release(root, info, taxonomy, meta, image_paths, structures, masks, splits)
