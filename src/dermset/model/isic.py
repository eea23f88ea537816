"""The ISIC view of a record, and its check by the ISIC Archive's own validator (isic-metadata).

ISIC's upload schema (isic-metadata 4.12) takes the age as ``age`` and publishes ``age_approx``;
we only ever hold the published form, so the same number goes in either column. Fields ISIC does
not know travel as its "unstructured" columns.
"""

from __future__ import annotations

from typing import Any

from isic_metadata.metadata import MetadataRow
from pydantic import ValidationError

from dermset.model.record import ImageRecord
from dermset.model.taxonomy import Taxonomy

#: Fields of ours that ISIC has no structured column for.
UNSTRUCTURED = ("benign_malignant", "verification_stage", "acquisition_device")


def isic_row(
    record: ImageRecord,
    taxonomy: Taxonomy | None = None,
    *,
    isic_diagnosis: str | None = None,
    structures: list[str] | None = None,
) -> dict[str, Any]:
    """The record in ISIC notation (published column names, full ISIC diagnosis term).

    *isic_diagnosis* may carry a more specific ISIC term (from an import) that falls inside the
    record's category; otherwise the category's own ISIC term is used.
    """
    taxonomy = taxonomy or Taxonomy.default()
    row: dict[str, Any] = {
        "isic_id": record.image_id,
        "patient_id": record.patient_id,
        "lesion_id": record.lesion_id,
        "age_approx": record.age_approx,
        "sex": record.sex,
        "fitzpatrick_skin_type": record.fitzpatrick_skin_type,
        "anatom_site_general": record.anatom_site_general,
        "clin_size_long_diam_mm": record.clin_size_long_diam_mm,
        "image_type": record.image_type,
        "dermoscopic_type": record.dermoscopic_type,
        "acquisition_day": record.acquisition_day,
        "diagnosis": None,
        "diagnosis_confirm_type": record.diagnosis_confirm_type,
    }
    if record.diagnosis is not None:
        category = taxonomy[record.diagnosis]
        specific = isic_diagnosis if isic_diagnosis and _within(isic_diagnosis, category) else None
        row["diagnosis"] = specific or category.isic_diagnosis
    for name in UNSTRUCTURED:
        row[name] = getattr(record, name)
    if structures is not None:
        row["dermoscopic_structures"] = ";".join(structures)
    return row


def _within(term: str, category: Any) -> bool:
    prefixes = (category.isic_diagnosis, *category.isic_prefixes)
    return any(term == p or term.startswith(p + ":") for p in prefixes)


def isic_validator_input(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a published ISIC row into what the ISIC upload validator takes."""
    data = {k: v for k, v in row.items() if v is not None and k != "isic_id"}
    if "age_approx" in data:
        data["age"] = data.pop("age_approx")
    return data


def isic_problems(row: dict[str, Any]) -> list[str]:
    """Messages from the ISIC Archive's validator for one published row (empty: valid)."""
    try:
        MetadataRow.model_validate(isic_validator_input(row))
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e.get('loc', ())))}: {e['msg']}" for e in exc.errors()]
    return []
