"""Cross-field rules of the information model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dermset.model.record import ImageRecord, validation_problems
from dermset.model.taxonomy import Taxonomy

CTX = {"taxonomy": Taxonomy.default()}


def validate(**fields) -> ImageRecord:
    return ImageRecord.model_validate(fields, context=CTX)


def problems(**fields) -> list[dict]:
    with pytest.raises(ValidationError) as exc:
        validate(**fields)
    return validation_problems(exc.value)


def test_benign_malignant_is_derived_from_the_diagnosis():
    assert validate(diagnosis="melanoma").benign_malignant == "malignant"
    assert validate(diagnosis="nv").benign_malignant == "benign"
    assert validate(diagnosis="ak").benign_malignant == "indeterminate"


def test_benign_malignant_inconsistent_with_diagnosis():
    [p] = problems(diagnosis="MEL", benign_malignant="benign")
    assert p["field"] == "benign_malignant"
    assert "MEL is malignant" in p["message"]


def test_dermoscopic_type_needs_a_dermoscopic_image():
    [p] = problems(image_type="clinical: overview", dermoscopic_type="contact polarized")
    assert p["field"] == "dermoscopic_type"


def test_confirm_type_must_match_stage():
    rec = validate(diagnosis="NV", verification_stage="consensus")
    assert rec.diagnosis_confirm_type == "single image expert consensus"
    [p] = problems(diagnosis="NV", verification_stage="consensus",
                   diagnosis_confirm_type="histopathology")
    assert p["field"] == "diagnosis_confirm_type"


@pytest.mark.parametrize(
    ("field", "value"),
    [("age_approx", 37), ("age_approx", 90), ("age_approx", -5), ("clin_size_long_diam_mm", 0),
     ("clin_size_long_diam_mm", 500), ("sex", "m"), ("anatom_site_general", "torso"),
     ("fitzpatrick_skin_type", "7"), ("image_type", "photo"), ("diagnosis", "freckle")],
)
def test_implausible_or_unknown_values_name_their_field(field, value):
    found = problems(**{field: value})
    assert [p["field"] for p in found] == [field]


def test_malignant_needs_histopathology_before_release():
    consensus = validate(diagnosis="MEL", verification_stage="consensus")
    assert consensus.release_violations() == [
        "MEL is malignant and needs diagnosis_confirm_type = histopathology"]
    histo = validate(diagnosis="MEL", verification_stage="histopathology")
    assert histo.release_violations() == []
    assert validate(diagnosis="NV", verification_stage="consensus").release_violations() == []
