"""Subgroups a clinical evaluation reports separately: age band, sex, skin type, site, device,
verification stage.

Missing values form their own subgroup ("missing") rather than disappearing: a model that does
worse on the images with no recorded age is worth knowing about.
"""

from __future__ import annotations

import math

import pandas as pd

MISSING = "missing"
#: (field shown to the reader, metadata column)
SUBGROUP_FIELDS: tuple[tuple[str, str], ...] = (
    ("age band", "age_approx"),
    ("sex", "sex"),
    ("Fitzpatrick skin type", "fitzpatrick_skin_type"),
    ("anatomic site", "anatom_site_general"),
    ("device", "acquisition_device"),
    ("verification stage", "verification_stage"),
)
AGE_BANDS = ((0, 30, "<30"), (30, 50, "30-49"), (50, 70, "50-69"), (70, 200, "≥70"))
_ORDER = {
    "fitzpatrick_skin_type": ["I", "II", "III", "IV", "V", "VI"],
    "age_approx": [b[2] for b in AGE_BANDS],
}


def age_band(age: object) -> str:
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return MISSING
    value = float(age)  # type: ignore[arg-type]
    return next((label for low, high, label in AGE_BANDS if low <= value < high), MISSING)


def subgroup_labels(covariates: pd.DataFrame, column: str) -> pd.Series | None:
    """The subgroup of every image for one field, or None when the field is absent or empty."""
    if column not in covariates.columns or covariates[column].isna().all():
        return None
    if column == "age_approx":
        return covariates[column].map(age_band).astype(object)
    return covariates[column].map(lambda v: v if isinstance(v, str) and v else MISSING)


def ordered_values(labels: pd.Series, column: str) -> list[str]:
    present = set(labels)
    order = [v for v in _ORDER.get(column, []) if v in present]
    rest = sorted(v for v in present if v not in order and v != MISSING)
    return order + rest + ([MISSING] if MISSING in present else [])
