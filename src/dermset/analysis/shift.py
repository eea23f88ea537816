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

from typing import Any

import numpy as np
import pandas as pd

from dermset.analysis.effect_sizes import categorical_shift, chi2_test, holm, numeric_shift
from dermset.analysis.image_shift import embedding_shift, image_shift
from dermset.analysis.sides import Side, load_side, side_from_release

__all__ = [
    "FIELDS",
    "Side",
    "covariate_shift",
    "label_shift",
    "load_side",
    "shift",
    "side_from_release",
]

#: field → (title, unit of analysis, kind)
FIELDS: dict[str, tuple[str, str, str]] = {
    "age_approx": ("age", "patient", "numeric"),
    "sex": ("sex", "patient", "categorical"),
    "fitzpatrick_skin_type": ("Fitzpatrick skin type", "patient", "categorical"),
    "anatom_site_general": ("anatomic site", "lesion", "categorical"),
    "acquisition_device": ("device", "image", "categorical"),
    "verification_stage": ("verification stage", "image", "categorical"),
}


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
    p, v = chi2_test(lesion_counts) if na > 0 and nb > 0 else (None, None)
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
        entry.update(numeric_shift(xa, xb) if kind == "numeric" else categorical_shift(xa, xb))
        results.append(entry)
    adjusted = holm([r.get("p_value") for r in results])
    for r, p in zip(results, adjusted, strict=True):
        r["p_holm"] = p
    return results


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
