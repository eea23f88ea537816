"""The specialist reviewer's blinded queue.

Every read goes through the verification core's reviewer functions (``queue``,
``review_item``: the functions behind :class:`ReviewerSession`, here sharing one read
transaction per page) and every write through ``ReviewerSession.submit``; the core decides what a
reviewer may see (only their assigned images, only the protocol's metadata, no other label
before their own review and the closed consensus). These pages show what it returns and nothing
else.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from dermset.model.fields import FIELD_NAMES
from dermset.verification import VerificationError, reviewer_view
from dermset.verification.reviewer import Progress, review_item
from dermset.verification.reviewer import queue as assigned_queue
from dermset.web.deps import action, page, reading, render, state
from dermset.web.forms import diagnoses, structure_groups
from dermset.web.sessions import Viewer

router = APIRouter()
METADATA_LABELS = {
    "age_approx": "Age (approx.)",
    "sex": "Sex",
    "fitzpatrick_skin_type": "Skin type",
    "anatom_site_general": "Body site",
    "clin_size_long_diam_mm": "Size (mm)",
    "image_type": "Image type",
    "dermoscopic_type": "Dermoscopy",
    "acquisition_device": "Device",
}


def _progress(s, project, name: str) -> tuple[Progress, list[str], list[str]]:
    """(progress, still to review, every assigned image) in the caller's read transaction."""
    todo = assigned_queue(s, project, name)
    every = assigned_queue(s, project, name, include_done=True)
    return Progress(len(every) - len(todo), len(every)), todo, every


@router.get("/review", response_model=None)
def queue(request: Request, viewer: Viewer = Depends(page("review"))) -> Response:
    project = state(request).project
    with reading(request) as s:
        progress, todo, every = _progress(s, project, viewer.name)
    waiting = set(todo)
    done = [i for i in every if i not in waiting]
    return render(
        request,
        "review_queue.html",
        {"progress": progress, "todo": todo, "done": done[-50:][::-1]},
        viewer=viewer,
    )


@router.get("/review/next", response_model=None)
def next_item(request: Request, viewer: Viewer = Depends(page("review"))) -> Response:
    project = state(request).project
    with reading(request) as s:
        todo = assigned_queue(s, project, viewer.name)
    return RedirectResponse(f"/review/{todo[0]}" if todo else "/review", status_code=303)


def _item_page(
    request: Request,
    viewer: Viewer,
    image_id: str,
    *,
    error: str = "",
    status: int = 200,
    submitted: dict[str, object] | None = None,
) -> Response:
    project = state(request).project
    try:
        with reading(request) as s:
            item = review_item(s, project, viewer.name, image_id)
            progress, _, _ = _progress(s, project, viewer.name)
    except VerificationError as exc:
        return render(
            request,
            "error.html",
            {"title": "Not in your queue", "message": str(exc), "status": 404},
            status=404,
            viewer=viewer,
        )
    order = {name: i for i, name in enumerate(FIELD_NAMES)}
    metadata = [
        (METADATA_LABELS.get(k, k.replace("_", " ")), v)
        for k, v in sorted(item.metadata.items(), key=lambda kv: order.get(kv[0], 99))
        if v is not None and v != ""
    ]
    return render(
        request,
        "review_item.html",
        {
            "item": item,
            "metadata": metadata,
            "progress": progress,
            "diagnoses": diagnoses(project.protocol),
            "names": {d["code"]: d["name"] for d in diagnoses(project.protocol)},
            "structure_groups": structure_groups(project.protocol),
            "scale": project.protocol.review.confidence_scale,
            "error": error,
            "submitted": submitted or {},
        },
        status=status,
        viewer=viewer,
    )


@router.get("/review/{image_id}", response_model=None)
def item_page(
    request: Request, image_id: str, viewer: Viewer = Depends(page("review"))
) -> Response:
    return _item_page(request, viewer, image_id)


@router.post("/review/{image_id}", response_model=None)
def submit(request: Request, image_id: str, viewer: Viewer = Depends(action("review"))) -> Response:
    form = request.state.form
    diagnosis = str(form.get("diagnosis") or "")
    structures = [str(v) for v in form.getlist("structure")]
    note = str(form.get("note") or "")
    raw_confidence = str(form.get("confidence") or "").strip()
    submitted = {
        "diagnosis": diagnosis,
        "structures": structures,
        "note": note,
        "confidence": raw_confidence,
    }
    try:
        confidence = int(raw_confidence)
    except ValueError:
        scale = state(request).project.protocol.review.confidence_scale
        return _item_page(
            request,
            viewer,
            image_id,
            error=f"Choose your confidence, from 1 (unsure) to {scale} (certain).",
            status=422,
            submitted=submitted,
        )
    rs = reviewer_view(state(request).project, viewer.name)
    try:
        rs.submit(image_id, diagnosis, confidence=confidence, structures=structures, note=note)
    except VerificationError as exc:
        status = 409 if exc.rule == "duplicate_review" else 422
        if exc.rule == "not_assigned":
            status = 404
        return _item_page(
            request, viewer, image_id, error=str(exc), status=status, submitted=submitted
        )
    except IntegrityError:
        # two submissions raced on PostgreSQL; the first one was saved, this one is refused
        return _item_page(
            request,
            viewer,
            image_id,
            error="You already reviewed this image; a review is final and was saved once.",
            status=409,
        )
    return RedirectResponse("/review/next", status_code=303)
