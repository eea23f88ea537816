"""Controlled vocabularies, spelled exactly as the ISIC Archive spells them (case matters).

Values are checked against the `isic-metadata` package in the tests, so a drift between the
ISIC validator and these lists shows up as a failing test, not as a rejected upload.
"""

from __future__ import annotations

from enum import StrEnum


class Sex(StrEnum):
    male = "male"
    female = "female"


class AnatomSiteGeneral(StrEnum):
    head_neck = "head/neck"
    upper_extremity = "upper extremity"
    lower_extremity = "lower extremity"
    anterior_torso = "anterior torso"
    posterior_torso = "posterior torso"
    lateral_torso = "lateral torso"
    palms_soles = "palms/soles"
    oral_genital = "oral/genital"


class FitzpatrickSkinType(StrEnum):
    I = "I"  # noqa: E741 - the Fitzpatrick scale is written in Roman numerals
    II = "II"
    III = "III"
    IV = "IV"
    V = "V"
    VI = "VI"


class ImageType(StrEnum):
    dermoscopic = "dermoscopic"
    clinical_overview = "clinical: overview"
    clinical_close_up = "clinical: close-up"
    tbp_tile_close_up = "TBP tile: close-up"
    tbp_tile_overview = "TBP tile: overview"


class DermoscopicType(StrEnum):
    contact_polarized = "contact polarized"
    contact_non_polarized = "contact non-polarized"
    non_contact_polarized = "non-contact polarized"


class DiagnosisConfirmType(StrEnum):
    histopathology = "histopathology"
    serial_imaging = "serial imaging showing no change"
    expert_consensus = "single image expert consensus"
    confocal = "confocal microscopy with consensus dermoscopy"
    clinical_assessment = "single contributor clinical assessment"


class BenignMalignant(StrEnum):
    benign = "benign"
    malignant = "malignant"
    indeterminate = "indeterminate"


class VerificationStage(StrEnum):
    """How a label was confirmed; derived by the verification workflow, never typed in.

    The first four are the stages of the study's method; the last two are what imported
    datasets bring (HAM10000's follow-up and confocal labels).
    """

    clinical = "clinical"
    consensus = "consensus"
    adjudicated = "adjudicated"
    histopathology = "histopathology"
    follow_up = "follow-up"
    confocal = "confocal"


#: Every verification stage maps to exactly one ISIC ``diagnosis_confirm_type``.
STAGE_TO_CONFIRM_TYPE: dict[VerificationStage, DiagnosisConfirmType] = {
    VerificationStage.clinical: DiagnosisConfirmType.clinical_assessment,
    VerificationStage.consensus: DiagnosisConfirmType.expert_consensus,
    VerificationStage.adjudicated: DiagnosisConfirmType.expert_consensus,
    VerificationStage.histopathology: DiagnosisConfirmType.histopathology,
    VerificationStage.follow_up: DiagnosisConfirmType.serial_imaging,
    VerificationStage.confocal: DiagnosisConfirmType.confocal,
}

#: The stage a confirmation stated by an imported dataset corresponds to.
CONFIRM_TYPE_TO_STAGE: dict[DiagnosisConfirmType, VerificationStage] = {
    DiagnosisConfirmType.clinical_assessment: VerificationStage.clinical,
    DiagnosisConfirmType.expert_consensus: VerificationStage.consensus,
    DiagnosisConfirmType.histopathology: VerificationStage.histopathology,
    DiagnosisConfirmType.serial_imaging: VerificationStage.follow_up,
    DiagnosisConfirmType.confocal: VerificationStage.confocal,
}


class Role(StrEnum):
    """Who looks at a record; the protocol decides which fields each role may see."""

    clinician = "clinician"
    reviewer = "reviewer"
    pathologist = "pathologist"
    curator = "curator"
    admin = "admin"
    public = "public"  # a reader of a release
