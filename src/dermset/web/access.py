"""Who may open which page and which image.

Pages are grouped in areas, each open to some roles (:data:`AREAS`). Images are served by
registry image id only, to a signed-in person whose role and work involve that image: a
reviewer the images assigned to them (the verification core's reviewer door decides), a
clinician the images they uploaded or annotated, a pathologist the images of lesions that need
or have histopathology, a curator every image. An administrator manages accounts and sees no
patient images. Refusals for images never say whether the image exists.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import ClinicalAnnotation, Histopathology, Image
from dermset.registry.user_tables import WebUpload
from dermset.verification import requirements
from dermset.verification.reviewer import queue as assigned
from dermset.web.sessions import Viewer

AREAS: dict[str, frozenset[str]] = {
    "capture": frozenset({"clinician"}),
    "review": frozenset({"reviewer"}),
    "pathology": frozenset({"pathologist", "curator"}),
    "curator": frozenset({"curator"}),
    "admin": frozenset({"admin"}),
}
HOME = {
    "clinician": "/capture",
    "reviewer": "/review",
    "pathologist": "/pathology",
    "curator": "/curator",
    "admin": "/admin/users",
}
NAV: dict[str, list[tuple[str, str]]] = {
    "clinician": [("New capture", "/capture")],
    "reviewer": [("My queue", "/review")],
    "pathologist": [("Histopathology", "/pathology")],
    "curator": [
        ("Dashboard", "/curator"),
        ("Adjudication", "/curator/adjudication"),
        ("Histopathology", "/pathology"),
        ("Duplicates", "/curator/duplicates"),
        ("SOP", "/curator/sop"),
        ("Quarantine", "/curator/quarantine"),
    ],
    "admin": [("Accounts", "/admin/users")],
}


def may_enter(role: str, area: str) -> bool:
    return role in AREAS[area]


def may_see_image(session: Session, project: Project, viewer: Viewer, img: Image) -> bool:
    if viewer.role == "curator":
        return True
    if viewer.role == "reviewer":  # the core's queue: assigned and still in the dataset
        return img.image_id in assigned(session, project, viewer.name, include_done=True)
    if viewer.role == "clinician":
        uploaded = session.execute(
            select(WebUpload.image_id).where(
                WebUpload.image_id == img.id, WebUpload.uploader == viewer.name
            )
        ).first()
        annotated = session.execute(
            select(ClinicalAnnotation.id).where(
                ClinicalAnnotation.image_id == img.id, ClinicalAnnotation.annotator == viewer.name
            )
        ).first()
        return uploaded is not None or annotated is not None
    if viewer.role == "pathologist":
        if img.lesion_id is None:
            return False
        has_result = session.execute(
            select(Histopathology.id).where(Histopathology.lesion_id == img.lesion_id)
        ).first()
        if has_result is not None:
            return True
        return any(r.lesion_pk == img.lesion_id for r in requirements(session, project.protocol))
    return False
