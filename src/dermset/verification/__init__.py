"""The verification workflow: how every label of the dataset was confirmed.

Stage 1 (clinical annotation) → stage 2 (blinded review by N specialists, consensus or
adjudication) → stage 3 (histopathology for every lesion anyone called malignant), and the
derived ``verification_stage`` of each image. The CLI (`dermset labels`) and the web pages are
faces on these functions; the core enforces every rule (blinding, who may review what, the
consensus rule), so no face can get them wrong. Functions that write take the caller's
session, so a face decides the transaction; each writes its audit events in that session.
"""

from dermset.verification.agreement_report import AgreementReport, agreement_report
from dermset.verification.assignment import AssignmentReport, assign_reviewer, assign_reviewers
from dermset.verification.clinical import annotate_lesion, clinical_annotate
from dermset.verification.consensus import adjudicate, decide, structure_majority
from dermset.verification.errors import VerificationError
from dermset.verification.export import export_rows
from dermset.verification.gate import Blocker, release_gate
from dermset.verification.histopathology import enter_histopathology, requirements
from dermset.verification.label_files import import_labels
from dermset.verification.label_format import LabelImportReport
from dermset.verification.review import submit_review
from dermset.verification.reviewer import (
    ReviewerSession,
    ReviewItem,
    next_for_reviewer,
    reviewer_view,
)
from dermset.verification.stage import Label, current_label, derive_stage, refresh_label
from dermset.verification.status import verification_status

__all__ = [
    "AgreementReport",
    "AssignmentReport",
    "Blocker",
    "Label",
    "LabelImportReport",
    "ReviewItem",
    "ReviewerSession",
    "VerificationError",
    "adjudicate",
    "agreement_report",
    "annotate_lesion",
    "assign_reviewer",
    "assign_reviewers",
    "clinical_annotate",
    "current_label",
    "decide",
    "derive_stage",
    "enter_histopathology",
    "export_rows",
    "import_labels",
    "next_for_reviewer",
    "refresh_label",
    "release_gate",
    "requirements",
    "reviewer_view",
    "structure_majority",
    "submit_review",
    "verification_status",
]
