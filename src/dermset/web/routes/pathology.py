"""Stage 3: lesions awaiting histopathology, and the entry form (pathologists and curators)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from dermset.registry.tables import Histopathology, Image, Lesion
from dermset.verification import VerificationError, enter_histopathology, requirements
from dermset.web.deps import action, page, render, state
from dermset.web.forms import diagnoses
from dermset.web.sessions import Viewer

router = APIRouter()


@router.get("/pathology", response_model=None)
def awaiting(request: Request, entered: str = "", viewer: Viewer = Depends(page("pathology"))):
    project = state(request).project
    with project.db.read() as s:
        reqs = requirements(s, project.protocol)
        results = {
            lesion: (dx, day)
            for lesion, dx, day in s.execute(
                select(Lesion.pseudonym, Histopathology.diagnosis, Histopathology.report_date).join(
                    Histopathology, Histopathology.lesion_id == Lesion.id
                )
            )
        }
    open_ = [r for r in reqs if not r.satisfied]
    closed = [r for r in reqs if r.satisfied]
    return render(
        request,
        "pathology_list.html",
        {"open": open_, "closed": closed, "results": results, "entered": entered},
        viewer=viewer,
    )


def _lesion_page(
    request: Request,
    viewer: Viewer,
    lesion_id: str,
    *,
    error: str = "",
    status: int = 200,
    submitted: dict[str, str] | None = None,
) -> Response:
    project = state(request).project
    with project.db.read() as s:
        les = s.execute(select(Lesion).where(Lesion.pseudonym == lesion_id)).scalar_one_or_none()
        req = next((r for r in requirements(s, project.protocol) if r.lesion_id == lesion_id), None)
        if les is None or req is None:
            return render(
                request,
                "error.html",
                {
                    "title": "Not awaiting histopathology",
                    "message": f"{lesion_id} is not a lesion that needs histopathology.",
                    "status": 404,
                },
                status=404,
                viewer=viewer,
            )
        images = list(
            s.execute(
                select(Image.image_id)
                .where(Image.lesion_id == les.id, Image.status == "active")
                .order_by(Image.id)
            ).scalars()
        )
        result = s.execute(
            select(
                Histopathology.diagnosis, Histopathology.report_date, Histopathology.entered_by
            ).where(Histopathology.lesion_id == les.id)
        ).first()
    return render(
        request,
        "pathology_entry.html",
        {
            "lesion_id": lesion_id,
            "requirement": req,
            "images": images,
            "result": result,
            "diagnoses": diagnoses(project.protocol),
            "today": date.today().isoformat(),
            "error": error,
            "submitted": submitted or {},
        },
        status=status,
        viewer=viewer,
    )


@router.get("/pathology/{lesion_id}", response_model=None)
def lesion_form(
    request: Request, lesion_id: str, viewer: Viewer = Depends(page("pathology"))
) -> Response:
    return _lesion_page(request, viewer, lesion_id)


@router.post("/pathology/{lesion_id}", response_model=None)
def enter(request: Request, lesion_id: str, viewer: Viewer = Depends(action("pathology"))):
    project = state(request).project
    form = request.state.form
    submitted = {
        k: str(form.get(k) or "") for k in ("diagnosis", "report_date", "lab_reference", "amend")
    }
    with project.db.read() as s:
        known = s.execute(select(Lesion.id).where(Lesion.pseudonym == lesion_id)).first()
    if known is None:
        return _lesion_page(request, viewer, lesion_id)
    try:
        with project.db.session() as s:
            enter_histopathology(
                s,
                project,
                lesion=lesion_id,
                diagnosis=submitted["diagnosis"],
                report_date=submitted["report_date"],
                entered_by=viewer.name,
                lab_reference=submitted["lab_reference"] or None,
                amend=submitted["amend"] == "yes",
            )
    except VerificationError as exc:
        return _lesion_page(
            request, viewer, lesion_id, error=str(exc), status=422, submitted=submitted
        )
    return RedirectResponse(f"/pathology?entered={lesion_id}", status_code=303)
