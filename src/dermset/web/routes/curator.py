"""The curator's pages: dashboard and release gate, reviewer assignment, adjudication, duplicate
groups, SOP overrides and the quarantine list. Each decision is a call into the core."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from dermset.ingest.dedup.review import (
    DuplicateReviewError,
    confirm_group,
    duplicate_groups,
    split_image,
)
from dermset.ingest.sop_advice import advice_for, stored_checks
from dermset.ingest.sop_override import (
    SopOverrideError,
    excluded_by_sop,
    override_sop,
    overrides,
)
from dermset.registry import quarantine
from dermset.registry.tables import ClinicalAnnotation, Consensus, Image, Quarantine, Review
from dermset.verification import (
    VerificationError,
    adjudicate,
    assign_reviewers,
    verification_status,
)
from dermset.verification.findings import by_annotator
from dermset.verification.gate import open_adjudications
from dermset.web.accounts import users_with_role
from dermset.web.deps import action, page, render, state
from dermset.web.forms import diagnoses
from dermset.web.sessions import Viewer

router = APIRouter()
STAGE_ORDER = ("none", "clinical", "consensus", "adjudicated", "histopathology")


def _counts(s) -> dict[str, int]:
    by_status = dict(s.execute(select(Image.status, func.count()).group_by(Image.status)).all())
    return {
        "sop_failed": by_status.get("sop_failed", 0),
        "duplicates": by_status.get("duplicate", 0),
        "quarantine": int(
            s.execute(
                select(func.count()).select_from(Quarantine).where(Quarantine.resolved.is_(False))
            ).scalar()
            or 0
        ),
    }


def _dashboard(
    request: Request,
    viewer: Viewer,
    *,
    done: str = "",
    error: str = "",
    chosen: list[str] | None = None,
    status: int = 200,
) -> Response:
    project = state(request).project
    with project.db.read() as s:
        progress = verification_status(s, project.protocol)
        counts = _counts(s)
        reviewers = users_with_role(s, "reviewer")
    stages = sorted(
        progress["by_verification_stage"].items(),
        key=lambda kv: STAGE_ORDER.index(kv[0]) if kv[0] in STAGE_ORDER else 99,
    )
    return render(
        request,
        "curator_dashboard.html",
        {
            "status": progress,
            "stages": stages,
            "counts": counts,
            "reviewer_accounts": reviewers,
            "n_reviewers": project.protocol.review.reviewers,
            "done": done,
            "error": error,
            "chosen": chosen,
        },
        status=status,
        viewer=viewer,
    )


@router.get("/curator", response_model=None)
def dashboard(
    request: Request, done: str = "", viewer: Viewer = Depends(page("curator"))
) -> Response:
    return _dashboard(request, viewer, done=done)


@router.post("/curator/assign", response_model=None)
def assign(request: Request, viewer: Viewer = Depends(action("curator"))) -> Response:
    project = state(request).project
    chosen = [str(v) for v in request.state.form.getlist("reviewer")]
    try:
        with project.db.session() as s:
            report = assign_reviewers(s, project, chosen, actor=viewer.name)
    except VerificationError as exc:
        return _dashboard(request, viewer, error=str(exc), chosen=chosen, status=422)
    return RedirectResponse(f"/curator?done=assigned-{report.assigned}", status_code=303)


# -- adjudication ----------------------------------------------------------------------------
@router.get("/curator/adjudication", response_model=None)
def adjudication_list(
    request: Request, decided: str = "", viewer: Viewer = Depends(page("curator"))
) -> Response:
    project = state(request).project
    with project.db.read() as s:
        waiting = open_adjudications(s)
        recent = list(
            s.execute(
                select(Image.image_id, Consensus.diagnosis, Consensus.adjudicator)
                .join(Consensus, Consensus.image_id == Image.id)
                .where(Consensus.status == "adjudicated")
                .order_by(Consensus.closed_at.desc())
                .limit(20)
            ).all()
        )
    return render(
        request,
        "adjudication_list.html",
        {"waiting": waiting, "recent": recent, "decided": decided},
        viewer=viewer,
    )


def _adjudication_page(
    request: Request,
    viewer: Viewer,
    image_id: str,
    *,
    error: str = "",
    status: int = 200,
    submitted: dict[str, str] | None = None,
) -> Response:
    project = state(request).project
    names = {d["code"]: d["name"] for d in diagnoses(project.protocol)}
    with project.db.read() as s:
        img = s.execute(select(Image).where(Image.image_id == image_id)).scalar_one_or_none()
        cons = s.get(Consensus, img.id) if img is not None else None
        if img is None or cons is None:
            return render(
                request,
                "error.html",
                {
                    "title": "Not in adjudication",
                    "message": f"{image_id} is not waiting for adjudication.",
                    "status": 404,
                },
                status=404,
                viewer=viewer,
            )
        seen = by_annotator(s, img.id, "review")
        reviews = [
            {
                "reviewer": r.reviewer,
                "diagnosis": r.diagnosis,
                "name": names.get(r.diagnosis, r.diagnosis),
                "confidence": r.confidence,
                "structures": seen.get(r.reviewer, []),
                "note": r.note,
            }
            for r in s.execute(
                select(Review).where(Review.image_id == img.id).order_by(Review.id)
            ).scalars()
        ]
        clinical = s.execute(
            select(ClinicalAnnotation.annotator, ClinicalAnnotation.diagnosis).where(
                ClinicalAnnotation.image_id == img.id
            )
        ).first()
        consensus = {
            "status": cons.status,
            "diagnosis": cons.diagnosis,
            "adjudicator": cons.adjudicator,
            "reason": cons.reason,
            "agreement": cons.agreement,
        }
    return render(
        request,
        "adjudication_item.html",
        {
            "image_id": image_id,
            "reviews": reviews,
            "clinical": clinical,
            "clinical_name": names.get(clinical.diagnosis, "") if clinical else "",
            "consensus": consensus,
            "diagnoses": diagnoses(project.protocol),
            "scale": project.protocol.review.confidence_scale,
            "error": error,
            "submitted": submitted or {},
        },
        status=status,
        viewer=viewer,
    )


@router.get("/curator/adjudication/{image_id}", response_model=None)
def adjudication_item(
    request: Request, image_id: str, viewer: Viewer = Depends(page("curator"))
) -> Response:
    return _adjudication_page(request, viewer, image_id)


@router.post("/curator/adjudication/{image_id}", response_model=None)
def decide(request: Request, image_id: str, viewer: Viewer = Depends(action("curator"))):
    project = state(request).project
    form = request.state.form
    submitted = {k: str(form.get(k) or "") for k in ("diagnosis", "reason")}
    try:
        with project.db.session() as s:
            adjudicate(
                s,
                project,
                image=image_id,
                adjudicator=viewer.name,
                diagnosis=submitted["diagnosis"],
                reason=submitted["reason"],
                role=viewer.role,
            )
    except VerificationError as exc:
        return _adjudication_page(
            request, viewer, image_id, error=str(exc), status=422, submitted=submitted
        )
    return RedirectResponse(f"/curator/adjudication?decided={image_id}", status_code=303)


# -- duplicates ------------------------------------------------------------------------------
@router.get("/curator/duplicates", response_model=None)
def duplicates(
    request: Request, done: str = "", viewer: Viewer = Depends(page("curator"))
) -> Response:
    project = state(request).project
    with project.db.read() as s:
        groups = duplicate_groups(s)
    return render(request, "duplicates.html", {"groups": groups, "done": done}, viewer=viewer)


def _duplicate_decision(request: Request, viewer: Viewer, change, done: str) -> Response:
    project = state(request).project
    try:
        with project.db.session() as s:
            change(s, project)
    except DuplicateReviewError as exc:
        with project.db.read() as s:
            groups = duplicate_groups(s)
        return render(
            request,
            "duplicates.html",
            {"groups": groups, "error": str(exc)},
            status=422,
            viewer=viewer,
        )
    return RedirectResponse(f"/curator/duplicates?done={done}", status_code=303)


@router.post("/curator/duplicates/{image_id}/confirm", response_model=None)
def confirm(request: Request, image_id: str, viewer: Viewer = Depends(action("curator"))):
    reason = str(request.state.form.get("reason") or "")
    return _duplicate_decision(
        request,
        viewer,
        lambda s, p: confirm_group(
            s, p, kept=image_id, actor=viewer.name, role=viewer.role, reason=reason
        ),
        f"confirmed-{image_id}",
    )


@router.post("/curator/duplicates/{image_id}/split", response_model=None)
def split(request: Request, image_id: str, viewer: Viewer = Depends(action("curator"))):
    reason = str(request.state.form.get("reason") or "")
    return _duplicate_decision(
        request,
        viewer,
        lambda s, p: split_image(
            s, p, image=image_id, actor=viewer.name, role=viewer.role, reason=reason
        ),
        f"split-{image_id}",
    )


# -- SOP -------------------------------------------------------------------------------------
def _sop_page(
    request: Request, viewer: Viewer, *, error: str = "", done: str = "", status: int = 200
) -> Response:
    project = state(request).project
    sop = project.protocol.sop
    with project.db.read() as s:
        failed = [
            {
                "image_id": img.image_id,
                "advice": advice_for(stored_checks(s, img.id), sop),
                "width": img.width,
                "height": img.height,
            }
            for img in excluded_by_sop(s)
        ]
        recent = overrides(s, limit=30)
    return render(
        request,
        "sop.html",
        {"failed": failed, "overrides": recent, "error": error, "done": done},
        status=status,
        viewer=viewer,
    )


@router.get("/curator/sop", response_model=None)
def sop(request: Request, done: str = "", viewer: Viewer = Depends(page("curator"))) -> Response:
    return _sop_page(request, viewer, done=done)


@router.post("/curator/sop/{image_id}", response_model=None)
def override(request: Request, image_id: str, viewer: Viewer = Depends(action("curator"))):
    project = state(request).project
    reason = str(request.state.form.get("reason") or "")
    try:
        with project.db.session() as s:
            override_sop(
                s, project, image_id=image_id, actor=viewer.name, role=viewer.role, reason=reason
            )
    except SopOverrideError as exc:
        return _sop_page(request, viewer, error=str(exc), status=422)
    return RedirectResponse(f"/curator/sop?done={image_id}", status_code=303)


# -- quarantine ------------------------------------------------------------------------------
@router.get("/curator/quarantine", response_model=None)
def quarantine_list(request: Request, viewer: Viewer = Depends(page("curator"))) -> Response:
    project = state(request).project
    with project.db.read() as s:
        entries = [
            {
                "created_at": e.created_at,
                "kind": e.kind,
                "row": e.row,
                "field": e.field,
                "rule": e.rule,
                "reason": e.reason,
            }
            for e in quarantine.open_entries(s, limit=500)
        ]
    return render(request, "quarantine.html", {"entries": entries}, viewer=viewer)
