"""The clinician's pages: capture a lesion from the phone, see the SOP verdicts, annotate it.

Uploads go through ``dermset.ingest.upload`` (the pipeline of `dermset ingest`); the stage-1
annotation through ``dermset.verification.clinical_annotate``. The local patient id typed here
goes to the pipeline (which keeps only its keyed pseudonym) and back into this clinician's own
form, nowhere else.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.ingest.pipeline import IngestError
from dermset.ingest.upload import CAPTURE_FIELDS, capture_fields, ingest_upload
from dermset.ingest.upload import UploadFile as Photo
from dermset.registry.tables import ClinicalAnnotation, Image, Lesion, Review
from dermset.registry.user_tables import WebUpload
from dermset.verification import VerificationError, clinical_annotate
from dermset.web.deps import action, page, render, state
from dermset.web.forms import capture_form, diagnoses, structure_groups
from dermset.web.sessions import Viewer

router = APIRouter()
RECENT = 20


def _form_values(form) -> dict[str, str]:
    return {k: str(form.get(k) or "").strip() for k in CAPTURE_FIELDS}


def _recent(s: Session, viewer: Viewer) -> list[dict[str, object]]:
    rows = s.execute(
        select(Image, Lesion.pseudonym, ClinicalAnnotation.diagnosis)
        .join(WebUpload, WebUpload.image_id == Image.id)
        .outerjoin(Lesion, Lesion.id == Image.lesion_id)
        .outerjoin(ClinicalAnnotation, ClinicalAnnotation.image_id == Image.id)
        .where(WebUpload.uploader == viewer.name)
        .order_by(WebUpload.uploaded_at.desc(), Image.id.desc())
        .limit(RECENT)
    ).all()
    return [
        {
            "image_id": img.image_id,
            "lesion": lesion,
            "status": img.status,
            "verdict": img.quality_verdict,
            "annotated": dx,
        }
        for img, lesion, dx in rows
    ]


def _capture_page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> HTMLResponse:
    project = state(request).project
    with project.db.read() as s:
        recent = _recent(s, viewer)
    groups = capture_form(project.protocol, capture_fields(project.protocol))
    return render(
        request,
        "capture.html",
        {
            "groups": groups,
            "values": values or {},
            "problems": problems or {},
            "message": message,
            "recent": recent,
            "max_files": state(request).settings.max_files,
            "max_file_mb": state(request).settings.max_file_mb,
        },
        status=status,
        viewer=viewer,
    )


@router.get("/capture", response_model=None)
def capture(request: Request, viewer: Viewer = Depends(page("capture"))) -> Response:
    return _capture_page(request, viewer)


@router.post("/capture/form", response_model=None)
def capture_again(request: Request, viewer: Viewer = Depends(action("capture"))) -> Response:
    """The capture form again, filled in (to add photographs of the same lesion)."""
    return _capture_page(request, viewer, values=_form_values(request.state.form))


def _annotation_context(project, images: list[dict[str, object]]) -> dict[str, object]:
    return {
        "images": images,
        "diagnoses": diagnoses(project.protocol),
        "structure_groups": structure_groups(project.protocol),
    }


@router.post("/capture", response_model=None)
def upload(
    request: Request,
    photos: list[UploadFile] = File(default=[]),
    viewer: Viewer = Depends(action("capture")),
) -> Response:
    st = state(request)
    values = _form_values(request.state.form)
    chosen = [p for p in photos if p.filename or (p.size or 0) > 0]
    if len(chosen) > st.settings.max_files:
        return _capture_page(
            request,
            viewer,
            values=values,
            message=f"At most {st.settings.max_files} photographs at a time, please.",
            status=413,
        )
    files = []
    for position, photo in enumerate(chosen, start=1):
        data = photo.file.read(st.settings.max_file_bytes + 1)
        if len(data) > st.settings.max_file_bytes:
            return _capture_page(
                request,
                viewer,
                values=values,
                message=(
                    f"Photograph {position} ({photo.filename}) is larger than "
                    f"{st.settings.max_file_mb} MB; nothing was uploaded."
                ),
                status=413,
            )
        files.append(Photo(photo.filename or f"photo {position}", data))
    try:
        report = ingest_upload(st.project, files, values, actor=viewer.name, site=st.settings.site)
    except IngestError as exc:
        return _capture_page(request, viewer, values=values, message=str(exc), status=503)
    if not report.ok:
        problems = {p.field or "": p.message for p in report.problems}
        return _capture_page(
            request,
            viewer,
            values=values,
            problems=problems,
            message="Please check the highlighted fields; nothing was uploaded.",
            status=422,
        )
    _remember_uploads(st.project, viewer.name, report.files)
    usable = [
        {"image_id": f.image_id, "position": f.position}
        for f in report.files
        if f.usable and not f.already_uploaded
    ]
    return render(
        request,
        "capture_result.html",
        {
            "report": report,
            "values": values,
            **_annotation_context(st.project, usable),
        },
        viewer=viewer,
    )


def _remember_uploads(project, uploader: str, outcomes) -> None:
    ids = [f.image_id for f in outcomes if f.image_id]
    if not ids:
        return
    with project.db.session() as s:
        pks = dict(s.execute(select(Image.image_id, Image.id).where(Image.image_id.in_(ids))).all())
        known = set(
            s.execute(select(WebUpload.image_id).where(WebUpload.image_id.in_(pks.values())))
            .scalars()
            .all()
        )
        for image_id in dict.fromkeys(ids):
            pk = pks.get(image_id)
            if pk is not None and pk not in known:
                s.add(WebUpload(image_id=pk, uploader=uploader))


def _own_images(s: Session, viewer: Viewer, image_ids: list[str]) -> list[Image]:
    """The images among *image_ids* this clinician uploaded (others are ignored)."""
    if not image_ids:
        return []
    return list(
        s.execute(
            select(Image)
            .join(WebUpload, WebUpload.image_id == Image.id)
            .where(Image.image_id.in_(image_ids), WebUpload.uploader == viewer.name)
            .order_by(Image.id)
        ).scalars()
    )


@router.get("/capture/annotate", response_model=None)
def annotate_form(
    request: Request, images: str = "", viewer: Viewer = Depends(page("capture"))
) -> Response:
    project = state(request).project
    wanted = [i for i in images.split(",") if i][:50]
    with project.db.read() as s:
        own = [
            img.image_id
            for img in _own_images(s, viewer, wanted)
            if img.status == "active"
            and s.execute(select(Review.id).where(Review.image_id == img.id)).first() is None
        ]
    if not own:
        return RedirectResponse("/capture", status_code=303)
    items = [{"image_id": image_id, "position": n} for n, image_id in enumerate(own, 1)]
    return render(request, "annotate.html", _annotation_context(project, items), viewer=viewer)


@router.post("/capture/annotate", response_model=None)
def annotate(request: Request, viewer: Viewer = Depends(action("capture"))) -> Response:
    project = state(request).project
    form = request.state.form
    image_ids = [str(v) for v in form.getlist("image_id")][:50]
    diagnosis = str(form.get("diagnosis") or "")
    structures = [str(v) for v in form.getlist("structure")]
    note = str(form.get("note") or "")

    def record() -> tuple[int, str]:
        try:
            with project.db.session() as s:
                own = _own_images(s, viewer, image_ids)
                if not own:
                    raise VerificationError(
                        "choose at least one of your photographs to annotate",
                        rule="no_images",
                        field="image_id",
                    )
                for img in own:
                    clinical_annotate(
                        s,
                        project,
                        image=img,
                        annotator=viewer.name,
                        diagnosis=diagnosis,
                        structures=structures,
                        note=note,
                    )
                return len(own), ""
        except VerificationError as exc:
            return 0, str(exc)

    n, error = record()
    if error:
        items = [{"image_id": i, "position": k} for k, i in enumerate(image_ids, 1)]
        ctx = _annotation_context(project, items)
        ctx.update(
            {
                "error": error,
                "chosen": diagnosis,
                "chosen_structures": structures,
                "note": note,
            }
        )
        return render(request, "annotate.html", ctx, status=422, viewer=viewer)
    return render(
        request,
        "capture_done.html",
        {"count": n, "image_ids": image_ids},
        viewer=viewer,
    )
