"""Domain shift between a release and another dataset (a release or a metadata table).

Three layers, each with effect sizes first and tests second — with thousands of images every
difference is "significant", so the size is what a reader should weigh:

* label shift: category shares per image (what a model sees) on each side, the difference in
  percentage points, total variation distance, and a chi-square test that counts each lesion
  once (repeated images of one lesion are not independent evidence);
* covariate shift per field (age, sex, Fitzpatrick type, site, device, verification stage): the
  unit is the patient for patient facts, the lesion for site, the image for device; missing
  values are reported as a share and kept out of the test; numeric fields get a standardised mean
  difference, the Wasserstein distance and a Kolmogorov-Smirnov test, categorical fields
  Cramér's V, total variation distance and a chi-square test; p-values are Holm-adjusted;
* image statistics (when both sides have images) and optional embeddings: see ``image_shift``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from dermset.analysis.image_stats import STATISTICS, statistics_table
from dermset.analysis.tables import read_metadata_table
from dermset.analysis.two_sample import classifier_two_sample_test, mmd_permutation_test
from dermset.model.taxonomy import Taxonomy
from dermset.release.reader import Release, is_release, load_release

#: field → (title, unit of analysis, kind)
FIELDS: dict[str, tuple[str, str, str]] = {
    "age_approx": ("age", "patient", "numeric"),
    "sex": ("sex", "patient", "categorical"),
    "fitzpatrick_skin_type": ("Fitzpatrick skin type", "patient", "categorical"),
    "anatom_site_general": ("anatomic site", "lesion", "categorical"),
    "acquisition_device": ("device", "image", "categorical"),
    "verification_stage": ("verification stage", "image", "categorical"),
}


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


def _holm(pvalues: list[float | None]) -> list[float | None]:
    idx = [i for i, p in enumerate(pvalues) if p is not None and np.isfinite(p)]
    order = sorted(idx, key=lambda i: pvalues[i])  # type: ignore[arg-type, return-value]
    out: list[float | None] = list(pvalues)
    running = 0.0
    m = len(order)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def _chi2(table: np.ndarray) -> tuple[float | None, float | None]:
    """(p-value, Cramér's V) of a 2 × k count table, columns without counts dropped.

    V is computed as if both sides had the same size (from the two rows' shares): the usual V
    shrinks towards 0 when one dataset is much larger than the other, which would make a
    comparison of 300 patients against HAM10000's 7,470 lesions look like no shift at all.
    """
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return None, None
    _, p, _, _ = stats.chi2_contingency(table, correction=False)
    shares = table / table.sum(axis=1, keepdims=True)
    chi2_per_case = stats.chi2_contingency(shares, correction=False)[0] / shares.sum()
    return float(p), float(np.sqrt(chi2_per_case / (min(shares.shape) - 1)))


def label_shift(a: Side, b: Side) -> dict[str, Any]:
    codes = list(dict.fromkeys(a.taxonomy.codes + [c for c in b.taxonomy.codes]))
    names = {c.code: c.name for c in (*b.taxonomy.categories, *a.taxonomy.categories)}
    out_rows = []
    counts = {}
    for side in (a, b):
        cats = side.metadata["diagnosis_category"]
        counts[side.name] = cats.value_counts().reindex(codes, fill_value=0)
    na, nb = (int(counts[s.name].sum()) for s in (a, b))
    for code in codes:
        ca, cb = int(counts[a.name][code]), int(counts[b.name][code])
        sa, sb = (ca / na if na else None), (cb / nb if nb else None)
        out_rows.append(
            {
                "code": code,
                "name": names.get(code, code),
                "a_images": ca,
                "b_images": cb,
                "a_share": sa,
                "b_share": sb,
                "difference_pp": None if sa is None or sb is None else 100 * (sa - sb),
            }
        )
    lesion_counts = np.vstack(
        [
            s.units("lesion")["diagnosis_category"]
            .value_counts()
            .reindex(codes, fill_value=0)
            .to_numpy()
            for s in (a, b)
        ]
    )
    p, v = _chi2(lesion_counts) if na > 0 and nb > 0 else (None, None)
    both = na > 0 and nb > 0
    tvd = (
        0.5 * sum(abs((r["a_share"] or 0) - (r["b_share"] or 0)) for r in out_rows)
        if both
        else None
    )
    return {
        "categories": out_rows,
        "a_labelled": na,
        "b_labelled": nb,
        "total_variation": tvd,
        "cramers_v": v,
        "p_value": p,
        "test": "chi-square, one count per lesion",
        "only_in_a": [r["code"] for r in out_rows if r["a_images"] and not r["b_images"]],
        "only_in_b": [r["code"] for r in out_rows if r["b_images"] and not r["a_images"]],
    }


def _numeric(xa: pd.Series, xb: pd.Series) -> dict[str, Any]:
    va, vb = xa.dropna().to_numpy(float), xb.dropna().to_numpy(float)
    out: dict[str, Any] = {
        "a_mean": float(va.mean()) if len(va) else None,
        "b_mean": float(vb.mean()) if len(vb) else None,
        "a_median": float(np.median(va)) if len(va) else None,
        "b_median": float(np.median(vb)) if len(vb) else None,
        "smd": None,
        "wasserstein": None,
        "ks": None,
        "p_value": None,
    }
    if len(va) and len(vb):
        out["histogram"] = _histogram(va, vb)
    if len(va) > 1 and len(vb) > 1:
        pooled = np.sqrt((va.var(ddof=1) + vb.var(ddof=1)) / 2)
        scale = max(1.0, abs(float(va.mean())), abs(float(vb.mean())))
        if pooled > 1e-9 * scale:
            out["smd"] = float((va.mean() - vb.mean()) / pooled)
        else:  # no variation on either side: a difference has no size in SD units
            out["smd"] = 0.0 if np.isclose(va.mean(), vb.mean()) else None
        out["wasserstein"] = float(stats.wasserstein_distance(va, vb))
        ks = stats.ks_2samp(va, vb)
        out["ks"], out["p_value"] = float(ks.statistic), float(ks.pvalue)
    return out


def _histogram(va: np.ndarray, vb: np.ndarray) -> dict[str, list[float]]:
    """Shared bins for both sides (5-year bins for ages in ISIC's 5-year rounding)."""
    both = np.concatenate([va, vb])
    if np.all(np.mod(both, 5) == 0):
        edges = np.arange(both.min() - 2.5, both.max() + 5, 5)
    else:
        edges = np.histogram_bin_edges(both, bins=min(30, max(5, int(np.sqrt(len(both))))))
    return {
        "edges": edges.round(6).tolist(),
        "a": np.histogram(va, edges)[0].tolist(),
        "b": np.histogram(vb, edges)[0].tolist(),
    }


def _categorical(xa: pd.Series, xb: pd.Series) -> dict[str, Any]:
    ka, kb = xa.dropna().astype(str), xb.dropna().astype(str)
    values = sorted(set(ka) | set(kb))
    ca = ka.value_counts().reindex(values, fill_value=0)
    cb = kb.value_counts().reindex(values, fill_value=0)
    p, v = _chi2(np.vstack([ca.to_numpy(), cb.to_numpy()]))
    sa = ca / ca.sum() if ca.sum() else ca * 0.0
    sb = cb / cb.sum() if cb.sum() else cb * 0.0
    both = ca.sum() > 0 and cb.sum() > 0
    return {
        "values": [
            {
                "value": val,
                "a_count": int(ca[val]),
                "b_count": int(cb[val]),
                "a_share": float(sa[val]) if ca.sum() else None,
                "b_share": float(sb[val]) if cb.sum() else None,
            }
            for val in values
        ],
        "total_variation": float(0.5 * np.abs(sa - sb).sum()) if both else None,
        "cramers_v": v,
        "p_value": p,
    }


def covariate_shift(a: Side, b: Side) -> list[dict[str, Any]]:
    results = []
    for column, (title, unit, kind) in FIELDS.items():
        ua, ub = a.unit_used(unit), b.unit_used(unit)
        ta, tb = a.units(unit), b.units(unit)
        xa = ta[column] if column in ta.columns else pd.Series(dtype=object)
        xb = tb[column] if column in tb.columns else pd.Series(dtype=object)
        entry: dict[str, Any] = {
            "field": column,
            "title": title,
            "kind": kind,
            "unit": ua if ua == ub else f"{ua} / {ub}",
            "a_n": len(ta),
            "b_n": len(tb),
            "a_missing": float(xa.isna().mean()) if len(xa) else 1.0,
            "b_missing": float(xb.isna().mean()) if len(xb) else 1.0,
        }
        if xa.notna().sum() == 0 or xb.notna().sum() == 0:
            entry["comparable"] = False
            entry["p_value"] = None
            results.append(entry)
            continue
        entry["comparable"] = True
        entry.update(_numeric(xa, xb) if kind == "numeric" else _categorical(xa, xb))
        results.append(entry)
    adjusted = _holm([r.get("p_value") for r in results])
    for r, p in zip(results, adjusted, strict=True):
        r["p_holm"] = p
    return results


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
        entry = {"statistic": name, "title": title, "unit": unit, **_numeric(sa[name], sb[name])}
        pooled = np.sqrt((sa[name].var() + sb[name].var()) / 2)
        entry["wasserstein_sd"] = (
            float(entry["wasserstein"] / pooled)
            if entry["wasserstein"] is not None and entry["smd"] is not None and pooled > 0
            else None
        )
        per_stat.append(entry)
    for entry, p in zip(per_stat, _holm([e["p_value"] for e in per_stat]), strict=True):
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


def shift(
    a: Side,
    b: Side,
    *,
    images: bool = True,
    embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    permutations: int = 100,
    seed: int = 0,
    workers: int = 1,
) -> dict[str, Any]:
    notes = [*a.notes, *b.notes]
    result: dict[str, Any] = {
        "a": {"name": a.name, "kind": a.kind, "images": len(a.metadata)},
        "b": {"name": b.name, "kind": b.kind, "images": len(b.metadata)},
        "label_shift": label_shift(a, b),
        "covariates": covariate_shift(a, b),
        "images": None,
        "embeddings": None,
        "notes": notes,
    }
    unlabelled = [s.name for s in (a, b) if s.metadata["diagnosis_category"].notna().sum() == 0]
    if unlabelled:
        notes.append(
            f"{', '.join(unlabelled)} has no diagnoses (a metadata table without labels, e.g. "
            "ISIC 2019's, whose labels are in the separate ground-truth file): no label shift"
        )
    if images and a.image_paths and b.image_paths:
        result["images"] = image_shift(a, b, permutations=permutations, seed=seed, workers=workers)
    elif images:
        without = [s.name for s in (a, b) if not s.image_paths]
        notes.append(f"image statistics need images on both sides; {', '.join(without)} has none")
    if embeddings is not None:
        result["embeddings"] = embedding_shift(
            *embeddings, permutations=max(permutations, 200), seed=seed
        )
    return result
