"""The information model speaks ISIC: every vocabulary value passes the ISIC Archive's validator."""

from __future__ import annotations

import pytest
from isic_metadata.diagnosis_hierarchical import DiagnosisEnum

from dermset.model import vocabularies as v
from dermset.model.ages import age_approx
from dermset.model.fields import FIELDS, Block, block_fields
from dermset.model.isic import isic_problems, isic_row
from dermset.model.record import ImageRecord
from dermset.model.taxonomy import Taxonomy, UnknownDiagnosis

TAXONOMY = Taxonomy.default()


def test_sixteen_fields_in_six_blocks():
    assert len(FIELDS) == 16
    assert [len(block_fields(b)) for b in Block] == [3, 3, 2, 4, 2, 2]


def _row(**fields):
    record = ImageRecord.model_validate({"image_id": "IMG_0000001", **fields},
                                        context={"taxonomy": TAXONOMY})
    return isic_row(record, TAXONOMY)


@pytest.mark.parametrize(
    ("field", "enum"),
    [("sex", v.Sex), ("anatom_site_general", v.AnatomSiteGeneral),
     ("fitzpatrick_skin_type", v.FitzpatrickSkinType), ("image_type", v.ImageType),
     ("diagnosis_confirm_type", v.DiagnosisConfirmType)],
)
def test_every_vocabulary_value_passes_isic_metadata(field, enum):
    for member in enum:
        extra = {"diagnosis": "NV"} if field == "diagnosis_confirm_type" else {}
        row = _row(**{field: member.value}, **extra)
        assert isic_problems(row) == [], (field, member.value)


def test_dermoscopic_types_pass_with_dermoscopic_image_type():
    for member in v.DermoscopicType:
        row = _row(image_type="dermoscopic", dermoscopic_type=member.value)
        assert isic_problems(row) == []


def test_every_category_maps_to_a_real_isic_diagnosis():
    isic_terms = {d.value for d in DiagnosisEnum}
    for cat in TAXONOMY.categories:
        assert cat.isic_diagnosis in isic_terms, cat.code
        row = _row(diagnosis=cat.code, diagnosis_confirm_type="histopathology")
        assert isic_problems(row) == [], cat.code
        assert row["benign_malignant"] == cat.malignancy.value


def test_every_verification_stage_has_a_valid_isic_confirm_type():
    for stage in v.VerificationStage:
        row = _row(diagnosis="MEL", verification_stage=stage.value)
        assert row["diagnosis_confirm_type"] == v.STAGE_TO_CONFIRM_TYPE[stage].value
        assert isic_problems(row) == []
        assert row["verification_stage"] == stage.value  # travels as an unstructured column


@pytest.mark.parametrize("age", [0, 2, 37, 38, 84, 85, 90])
def test_ages_published_like_isic(age):
    approx = age_approx(age)
    assert approx % 5 == 0 and approx <= 85
    assert approx == 5 * round(min(age, 85) / 5)
    assert isic_problems(_row(age_approx=approx)) == []


def test_isic_validator_rejects_what_isic_rejects():
    row = _row(diagnosis="NV")
    row["sex"] = "Male "  # wrong case is tolerated by ISIC…
    assert isic_problems(row) == []
    row["sex"] = "unknown"  # …an unknown term is not
    assert isic_problems(row)


@pytest.mark.parametrize(
    ("term", "code"),
    [("mel", "MEL"), ("MEL", "MEL"), ("melanoma", "MEL"), ("nv", "NV"), ("NEV", "NV"),
     ("bkl", "BKL"), ("SEK", "BKL"), ("solar lentigo", "BKL"), ("akiec", "AK"), ("ACK", "AK"),
     ("bcc", "BCC"), ("SCC", "SCC"), ("df", "DF"), ("vasc", "VASC"),
     ("Benign:Benign melanocytic proliferations:Nevus:Blue nevus", "NV"),
     ("Malignant:Malignant melanocytic proliferations (Melanoma):Melanoma in situ", "MEL"),
     ("Malignant:Malignant epidermal proliferations:Squamous cell carcinoma, Invasive", "SCC"),
     ("Benign:Benign epidermal proliferations:Seborrheic keratosis", "BKL"),
     ("nevus", "NV"), ("seborrheic keratosis", "BKL"), ("reed or spitz nevus", "NV")],
)
def test_aliases_resolve(term, code):
    assert TAXONOMY.resolve(term).code == code


def test_unknown_diagnosis_is_rejected_with_the_choices():
    with pytest.raises(UnknownDiagnosis, match="MEL, BCC"):
        TAXONOMY.resolve("freckle-ish")


def test_specific_isic_term_is_kept_in_the_isic_view():
    record = ImageRecord.model_validate({"diagnosis": "MEL"}, context={"taxonomy": TAXONOMY})
    term = "Malignant:Malignant melanocytic proliferations (Melanoma):Melanoma in situ"
    assert isic_row(record, TAXONOMY, isic_diagnosis=term)["diagnosis"] == term
    # a term outside the category is not allowed to leak in
    other = "Benign:Benign melanocytic proliferations:Nevus"
    assert isic_row(record, TAXONOMY, isic_diagnosis=other)["diagnosis"] != other
