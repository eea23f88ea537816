"""Shift in the pictures themselves: image statistics and user-supplied embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dermset.analysis.effect_sizes import holm, numeric_shift
from dermset.analysis.image_stats import STATISTICS, statistics_table
from dermset.analysis.sides import Side
from dermset.analysis.two_sample import classifier_two_sample_test, mmd_permutation_test


def image_shift(
    a: Side, b: Side, *, permutations: int = 100, seed: int = 0, workers: int = 1
) -> dict[str, Any]:
    """Image statistics on both sides: per statistic distances, then a classifier 2-sample test."""
    tables = {}
    errors: list[str] = []
    for side in (a, b):
        jobs = [(i, p, side.masks.get(i)) for i, p in side.image_paths.items()]
        frame, errs = statistics_table(jobs, workers=workers)
        tables[side.name] = frame
        errors += errs
    sa, sb = tables[a.name], tables[b.name]
    per_stat = []
    for name, (title, unit) in STATISTICS.items():
        entry = {
            "statistic": name,
            "title": title,
            "unit": unit,
            **numeric_shift(sa[name], sb[name]),
        }
        pooled = np.sqrt((sa[name].var() + sb[name].var()) / 2)
        entry["wasserstein_sd"] = (
            float(entry["wasserstein"] / pooled)
            if entry["wasserstein"] is not None and entry["smd"] is not None and pooled > 0
            else None
        )
        per_stat.append(entry)
    for entry, p in zip(per_stat, holm([e["p_value"] for e in per_stat]), strict=True):
        entry["p_holm"] = p
    cols = list(STATISTICS)
    ga = _groups(a, list(sa.index))
    gb = _groups(b, list(sb.index))
    c2st = classifier_two_sample_test(
        sa[cols].to_numpy(), sb[cols].to_numpy(), ga, gb, permutations=permutations, seed=seed
    )
    return {
        "a_images": len(sa),
        "b_images": len(sb),
        "unreadable": errors,
        "statistics": per_stat,
        "classifier_test": {
            **c2st.to_dict(),
            "features": cols,
            "null": c2st.null.round(4).tolist(),
        },
        "values": {
            a.name: sa[cols].round(4).to_dict("list"),
            b.name: sb[cols].round(4).to_dict("list"),
        },
    }


def _groups(side: Side, images: list[str]) -> np.ndarray:
    meta = side.metadata.reindex(images)
    out = []
    for image in images:
        p = meta.at[image, "patient_id"] if "patient_id" in meta.columns else None
        q = meta.at[image, "lesion_id"] if "lesion_id" in meta.columns else None
        out.append(p if isinstance(p, str) else q if isinstance(q, str) else image)
    return np.asarray(out, dtype=object)


def load_embeddings(path: str | Path, side: Side) -> np.ndarray:
    """A ``.npy`` (rows in the order of the side's metadata) or ``.npz`` with ``ids`` and
    ``embeddings``; raises ValueError naming the file when rows do not line up."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path.name}: cannot be read as a NumPy array ({exc})") from None
    ids = list(side.metadata.index)
    if isinstance(data, np.lib.npyio.NpzFile):
        if not {"ids", "embeddings"} <= set(data.files):
            raise ValueError(f"{path.name}: an .npz needs arrays 'ids' and 'embeddings'")
        given = [str(i) for i in data["ids"]]
        emb = np.asarray(data["embeddings"], float)
        position = {i: k for k, i in enumerate(given)}
        missing = [i for i in ids if i not in position]
        if len(missing) == len(ids):
            raise ValueError(f"{path.name}: none of its ids are images of {side.name}")
        rows = [position[i] for i in ids if i in position]
        emb = emb[rows]
    else:
        emb = np.asarray(data, float)
        if emb.ndim != 2 or len(emb) != len(ids):
            raise ValueError(
                f"{path.name}: expected a 2-D array with one row per image of {side.name} "
                f"({len(ids)} rows, in metadata order); got shape {emb.shape}. Use an .npz "
                "with 'ids' and 'embeddings' to name the rows"
            )
    if not np.isfinite(emb).all():
        bad = int((~np.isfinite(emb)).any(axis=1).sum())
        raise ValueError(f"{path.name}: {bad} row(s) contain NaN or infinite values")
    return emb


def embedding_shift(
    ea: np.ndarray, eb: np.ndarray, *, permutations: int = 500, seed: int = 0
) -> dict[str, Any]:
    if ea.shape[1] != eb.shape[1]:
        raise ValueError(f"embeddings have {ea.shape[1]} and {eb.shape[1]} dimensions")
    result = mmd_permutation_test(ea, eb, permutations=permutations, seed=seed)
    return {
        **result.to_dict(),
        "dimensions": int(ea.shape[1]),
        "null": result.null.round(6).tolist(),
        "kernel": "Gaussian, median heuristic",
    }
