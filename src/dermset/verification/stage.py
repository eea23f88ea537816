"""The derived label of an image: its diagnosis and ``verification_stage``, never typed in.

The workflow's records decide the label:

* a histopathology result of the image's lesion → stage ``histopathology`` (its diagnosis wins,
  also over a consensus it contradicts);
* else a closed consensus → ``consensus``, or an adjudication decision → ``adjudicated``;
* else a clinical annotation → ``clinical`` (also while the reviews or an adjudication are open).

A label an imported dataset stated (``source_label``: HAM10000 ``dx_type=histo`` arrives as
``histopathology``, ``follow_up`` as ``follow-up``) is kept until the workflow produces a
*stronger* one, by this rank::

    clinical 1 < consensus = adjudicated 2 < follow-up = confocal 3 < histopathology 4

Ties keep the stated label, with one exception: a histopathology report entered in dermset
replaces a stated histopathology label (the entered report is the primary document). A stated
diagnosis without a stated confirmation ranks 0. Each stage maps to one ISIC
``diagnosis_confirm_type`` (``STAGE_TO_CONFIRM_TYPE``); ``benign_malignant`` follows the
diagnosis' category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.model.taxonomy import Taxonomy
from dermset.model.vocabularies import STAGE_TO_CONFIRM_TYPE, VerificationStage
from dermset.registry.audit import diff
from dermset.registry.project import Project
from dermset.registry.tables import ClinicalAnnotation, Consensus, Histopathology, Image
from dermset.registry.verification_tables import SourceLabel
from dermset.verification import context

S = VerificationStage
STAGE_RANK: dict[VerificationStage, int] = {
    S.clinical: 1,
    S.consensus: 2,
    S.adjudicated: 2,
    S.follow_up: 3,
    S.confocal: 3,
    S.histopathology: 4,
}
LABEL_FIELDS = (
    "diagnosis",
    "diagnosis_isic",
    "benign_malignant",
    "diagnosis_confirm_type",
    "verification_stage",
)
CLOSED = ("consensus", "adjudicated")


@dataclass(frozen=True)
class Label:
    """A diagnosis (taxonomy code) and the stage that confirmed it."""

    diagnosis: str
    stage: VerificationStage | None
    diagnosis_isic: str | None = None
    stated: bool = False  # True: the label an imported dataset stated

    @property
    def rank(self) -> int:
        return 0 if self.stage is None else STAGE_RANK[self.stage]


def workflow_label(
    *,
    clinical: str | None = None,
    consensus_status: str | None = None,
    consensus_diagnosis: str | None = None,
    histopathology: str | None = None,
    histopathology_isic: str | None = None,
) -> Label | None:
    """The strongest label the workflow's own records give (None: no record yet)."""
    if histopathology is not None:
        return Label(histopathology, S.histopathology, histopathology_isic)
    if consensus_status in CLOSED and consensus_diagnosis is not None:
        stage = S.consensus if consensus_status == "consensus" else S.adjudicated
        return Label(consensus_diagnosis, stage)
    if clinical is not None:
        return Label(clinical, S.clinical)
    return None


def derive_stage(stated: Label | None, workflow: Label | None) -> Label | None:
    """Which of the stated and the workflow label an image carries (see the module doc)."""
    if workflow is None:
        return stated
    if stated is None:
        return workflow
    if workflow.rank > stated.rank:
        return workflow
    if workflow.stage is S.histopathology and stated.stage is S.histopathology:
        return workflow
    return stated


def label_fields(label: Label | None, taxonomy: Taxonomy) -> dict[str, Any]:
    """The five ``image`` columns a label writes."""
    if label is None:
        return dict.fromkeys(LABEL_FIELDS)
    category = taxonomy[label.diagnosis]
    return {
        "diagnosis": label.diagnosis,
        "diagnosis_isic": label.diagnosis_isic or category.isic_diagnosis,
        "benign_malignant": category.malignancy.value,
        "diagnosis_confirm_type": (
            STAGE_TO_CONFIRM_TYPE[label.stage].value if label.stage is not None else None
        ),
        "verification_stage": label.stage.value if label.stage is not None else None,
    }


# -- the registry side -----------------------------------------------------------------------
def source_label(session: Session, image: Image) -> SourceLabel:
    """The stated label, snapshotted from the image the first time the workflow touches it."""
    row = session.get(SourceLabel, image.id)
    if row is None:
        row = SourceLabel(image_id=image.id, **{k: getattr(image, k) for k in LABEL_FIELDS})
        session.add(row)
        session.flush()  # a pending row is invisible to session.get
    return row


def _stated(row: SourceLabel, taxonomy: Taxonomy) -> tuple[Label | None, dict[str, Any]]:
    """The stated label (None when it names no category) and the columns it stated verbatim."""
    fields = {k: getattr(row, k) for k in LABEL_FIELDS}
    if row.diagnosis is None or row.diagnosis not in taxonomy.codes:
        return None, fields
    stage = S(row.verification_stage) if row.verification_stage else None
    return Label(row.diagnosis, stage, row.diagnosis_isic, stated=True), fields


def current_label(session: Session, project: Project, image: Image) -> Label | None:
    """The label the image should carry now, from its records (nothing is written)."""
    taxonomy = context.taxonomy(project.protocol)
    stated, _ = _stated(source_label(session, image), taxonomy)
    return derive_stage(stated, _workflow_of(session, image))


def _workflow_of(session: Session, image: Image) -> Label | None:
    clinical, status, consensus, histo, histo_isic = session.execute(
        select(
            ClinicalAnnotation.diagnosis,
            Consensus.status,
            Consensus.diagnosis,
            Histopathology.diagnosis,
            Histopathology.diagnosis_isic,
        )
        .select_from(Image)
        .outerjoin(ClinicalAnnotation, ClinicalAnnotation.image_id == Image.id)
        .outerjoin(Consensus, Consensus.image_id == Image.id)
        .outerjoin(Histopathology, Histopathology.lesion_id == Image.lesion_id)
        .where(Image.id == image.id)
    ).one()
    return workflow_label(
        clinical=clinical,
        consensus_status=status,
        consensus_diagnosis=consensus,
        histopathology=histo,
        histopathology_isic=histo_isic,
    )


def refresh_label(
    session: Session, project: Project, image: Image, *, actor: str, reason: str = "verification"
) -> dict[str, tuple[Any, Any]]:
    """Write the image's derived label; audit and return what changed (empty: nothing)."""
    taxonomy = context.taxonomy(project.protocol)
    stated, stated_fields = _stated(source_label(session, image), taxonomy)
    label = derive_stage(stated, _workflow_of(session, image))
    # nothing from the workflow: the stated columns stay as they came (e.g. benign, no diagnosis)
    wanted = stated_fields if label is None or label.stated else label_fields(label, taxonomy)
    changes = diff({k: getattr(image, k) for k in LABEL_FIELDS}, wanted)
    if changes:
        for key, (_, after) in changes.items():
            setattr(image, key, after)
        project.audit.record(
            session,
            actor=actor,
            entity="image",
            key=image.image_id,
            action="label",
            changes={**changes, "reason": (None, reason)},
        )
    return changes
