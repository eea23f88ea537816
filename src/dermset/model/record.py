"""The validated image record: one row of the information model, with its cross-field rules.

Validation needs the study's taxonomy (the protocol's), passed as pydantic validation context::

    ImageRecord.model_validate(row, context={"taxonomy": taxonomy})
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dermset.model.ages import AGE_CLAMP
from dermset.model.taxonomy import Taxonomy, UnknownDiagnosis
from dermset.model.vocabularies import (
    STAGE_TO_CONFIRM_TYPE,
    AnatomSiteGeneral,
    BenignMalignant,
    DermoscopicType,
    DiagnosisConfirmType,
    FitzpatrickSkinType,
    ImageType,
    Sex,
    VerificationStage,
)

_DEFAULT_TAXONOMY = Taxonomy.default()
MAX_TEXT = 256  # an identifier or a device name longer than this is a broken file, not data
MAX_SIZE_MM = 200.0  # larger than any lesion a dermatoscope frames
MAX_ABS_DAY = 100_000


def _taxonomy(info: ValidationInfo) -> Taxonomy:
    ctx = info.context or {}
    return ctx.get("taxonomy", _DEFAULT_TAXONOMY)


class ImageRecord(BaseModel):
    """One image with its patient, lesion, acquisition, diagnosis and verification facts."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=True)

    # identification
    image_id: str | None = Field(default=None, max_length=MAX_TEXT)
    patient_id: str | None = Field(default=None, max_length=MAX_TEXT)
    lesion_id: str | None = Field(default=None, max_length=MAX_TEXT)
    # patient
    age_approx: int | None = Field(default=None, ge=0, le=AGE_CLAMP)
    sex: Sex | None = None
    fitzpatrick_skin_type: FitzpatrickSkinType | None = None
    # lesion
    anatom_site_general: AnatomSiteGeneral | None = None
    clin_size_long_diam_mm: float | None = Field(default=None, gt=0, le=MAX_SIZE_MM)
    # acquisition
    image_type: ImageType | None = None
    dermoscopic_type: DermoscopicType | None = None
    acquisition_device: str | None = Field(default=None, max_length=MAX_TEXT)
    acquisition_day: int | None = Field(default=None, ge=-MAX_ABS_DAY, le=MAX_ABS_DAY)
    # diagnosis
    diagnosis: str | None = None
    benign_malignant: BenignMalignant | None = None
    # verification
    diagnosis_confirm_type: DiagnosisConfirmType | None = None
    verification_stage: VerificationStage | None = None

    @field_validator("age_approx")
    @classmethod
    def _age_is_published_form(cls, value: int | None) -> int | None:
        if value is not None and value % 5:
            raise PydanticCustomError(
                "age_approx",
                "age_approx must be a multiple of 5 (ISIC rounding), got {value}",
                {"value": value},
            )
        return value

    @field_validator("diagnosis")
    @classmethod
    def _diagnosis_in_taxonomy(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            return None
        try:
            return _taxonomy(info).resolve(value).code
        except UnknownDiagnosis as exc:
            raise PydanticCustomError("diagnosis", str(exc)) from None

    @model_validator(mode="after")
    def _cross_field_rules(self, info: ValidationInfo) -> ImageRecord:
        taxonomy = _taxonomy(info)
        if self.diagnosis is not None:
            expected = taxonomy[self.diagnosis].malignancy.value
            if self.benign_malignant is None:
                self.benign_malignant = expected
            elif self.benign_malignant != expected:
                raise PydanticCustomError(
                    "benign_malignant",
                    "benign_malignant is {given} but diagnosis {dx} is {expected}",
                    {"given": self.benign_malignant, "dx": self.diagnosis, "expected": expected},
                )
        # benign_malignant without a diagnosis is allowed: archives (ISIC 2020) know many
        # lesions only as benign, with diagnosis "unknown".
        if self.dermoscopic_type is not None and self.image_type not in (
            None,
            ImageType.dermoscopic.value,
        ):
            raise PydanticCustomError(
                "dermoscopic_type",
                "dermoscopic_type is set but image_type is {image_type}, not dermoscopic",
                {"image_type": self.image_type},
            )
        if self.verification_stage is not None:
            mapped = STAGE_TO_CONFIRM_TYPE[VerificationStage(self.verification_stage)].value
            if self.diagnosis_confirm_type is None:
                self.diagnosis_confirm_type = mapped
            elif self.diagnosis_confirm_type != mapped:
                raise PydanticCustomError(
                    "diagnosis_confirm_type",
                    "diagnosis_confirm_type {given} does not match verification_stage {stage}",
                    {"given": self.diagnosis_confirm_type, "stage": self.verification_stage},
                )
        if (self.verification_stage is not None or self.diagnosis_confirm_type is not None) and (
            self.diagnosis is None
        ):
            raise PydanticCustomError("diagnosis", "a confirmation is given but no diagnosis", {})
        return self

    def release_violations(self, taxonomy: Taxonomy | None = None) -> list[str]:
        """Rules that only bind when a record is released (records in progress may break them)."""
        taxonomy = taxonomy or _DEFAULT_TAXONOMY
        problems: list[str] = []
        if self.diagnosis is None:
            problems.append("no diagnosis")
        elif (
            self.diagnosis in taxonomy.histopathology_codes
            and self.diagnosis_confirm_type != DiagnosisConfirmType.histopathology.value
        ):
            problems.append(
                f"{self.diagnosis} is malignant and needs diagnosis_confirm_type = histopathology"
            )
        return problems


def validation_problems(exc: Any) -> list[dict[str, Any]]:
    """Flatten a pydantic ValidationError into {field, value, rule, message} dicts."""
    out = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        field = str(loc[0]) if loc else (err.get("type") or "record")
        if not loc and err.get("type") in {
            "benign_malignant",
            "dermoscopic_type",
            "diagnosis_confirm_type",
            "diagnosis",
        }:
            field = err["type"]
        value = err.get("input")
        if isinstance(value, dict):
            value = value.get(field)
        out.append(
            {"field": field, "value": value, "rule": err.get("type"), "message": err.get("msg")}
        )
    return out
