"""The study's 16 metadata fields in six clinically oriented blocks, in ISIC notation.

Each field knows its block, type, unit, vocabulary, ISIC column name and the roles that may see
it by default (the protocol may narrow or widen this per study). ``isic_structured`` says
whether the ISIC Archive knows the field; the others travel as ISIC "unstructured" columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dermset.model import vocabularies as v
from dermset.model.vocabularies import Role


class Block(StrEnum):
    identification = "identification"
    patient = "patient"
    lesion = "lesion"
    acquisition = "acquisition"
    diagnosis = "diagnosis"
    verification = "verification"


ALL_ROLES = frozenset(Role)
STAFF = frozenset({Role.clinician, Role.pathologist, Role.curator, Role.admin})
#: A reviewer is blinded to every label and to identifiers that would link images together.
NOT_REVIEWER = frozenset(ALL_ROLES - {Role.reviewer})


@dataclass(frozen=True)
class FieldSpec:
    name: str
    block: Block
    type: type
    description: str
    unit: str | None = None
    vocabulary: tuple[str, ...] | None = None
    isic_name: str | None = None  # None: not an ISIC structured field
    visible_to: frozenset[Role] = ALL_ROLES

    @property
    def isic_structured(self) -> bool:
        return self.isic_name is not None


def _vocab(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


FIELDS: tuple[FieldSpec, ...] = (
    # identification
    FieldSpec(
        "image_id", Block.identification, str, "Registry image identifier", isic_name="isic_id"
    ),
    FieldSpec(
        "patient_id",
        Block.identification,
        str,
        "Pseudonymous patient identifier (keyed HMAC of the site's local id)",
        isic_name="patient_id",
        visible_to=NOT_REVIEWER,
    ),
    FieldSpec(
        "lesion_id",
        Block.identification,
        str,
        "Pseudonymous lesion identifier (keyed HMAC of the site's local id)",
        isic_name="lesion_id",
        visible_to=NOT_REVIEWER,
    ),
    # patient
    FieldSpec(
        "age_approx",
        Block.patient,
        int,
        "Age at capture, clamped at 85, nearest 5 years",
        unit="years",
        isic_name="age_approx",
    ),
    FieldSpec("sex", Block.patient, str, "Sex", vocabulary=_vocab(v.Sex), isic_name="sex"),
    FieldSpec(
        "fitzpatrick_skin_type",
        Block.patient,
        str,
        "Fitzpatrick skin phototype",
        vocabulary=_vocab(v.FitzpatrickSkinType),
        isic_name="fitzpatrick_skin_type",
    ),
    # lesion
    FieldSpec(
        "anatom_site_general",
        Block.lesion,
        str,
        "General anatomic site",
        vocabulary=_vocab(v.AnatomSiteGeneral),
        isic_name="anatom_site_general",
    ),
    FieldSpec(
        "clin_size_long_diam_mm",
        Block.lesion,
        float,
        "Clinical size, longest diameter",
        unit="mm",
        isic_name="clin_size_long_diam_mm",
    ),
    # acquisition
    FieldSpec(
        "image_type",
        Block.acquisition,
        str,
        "Image type",
        vocabulary=_vocab(v.ImageType),
        isic_name="image_type",
    ),
    FieldSpec(
        "dermoscopic_type",
        Block.acquisition,
        str,
        "Dermoscopy mode",
        vocabulary=_vocab(v.DermoscopicType),
        isic_name="dermoscopic_type",
    ),
    FieldSpec(
        "acquisition_device",
        Block.acquisition,
        str,
        "Phone and dermatoscope model (no serial numbers)",
    ),
    FieldSpec(
        "acquisition_day",
        Block.acquisition,
        int,
        "Capture day, shifted per patient so that only intervals are real",
        unit="days",
        isic_name="acquisition_day",
        visible_to=NOT_REVIEWER,
    ),
    # diagnosis
    FieldSpec(
        "diagnosis",
        Block.diagnosis,
        str,
        "Diagnostic category of the protocol's taxonomy",
        isic_name="diagnosis",
        visible_to=NOT_REVIEWER,
    ),
    FieldSpec(
        "benign_malignant",
        Block.diagnosis,
        str,
        "Benign or malignant, from the diagnosis",
        vocabulary=_vocab(v.BenignMalignant),
        visible_to=NOT_REVIEWER,
    ),
    # verification
    FieldSpec(
        "diagnosis_confirm_type",
        Block.verification,
        str,
        "How the diagnosis was confirmed (ISIC)",
        vocabulary=_vocab(v.DiagnosisConfirmType),
        isic_name="diagnosis_confirm_type",
        visible_to=NOT_REVIEWER,
    ),
    FieldSpec(
        "verification_stage",
        Block.verification,
        str,
        "Stage of the verification workflow that fixed the label (derived)",
        vocabulary=_vocab(v.VerificationStage),
        visible_to=NOT_REVIEWER,
    ),
)

FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)


def block_fields(block: Block) -> tuple[FieldSpec, ...]:
    return tuple(f for f in FIELDS if f.block is block)


def visible_fields(role: Role) -> tuple[str, ...]:
    """Field names a role may see under the model's default visibility."""
    return tuple(f.name for f in FIELDS if role in f.visible_to)
