"""Photographs uploaded from the capture page, through the same pipeline as `dermset ingest`.

A clinician uploads a few photographs of one lesion together with the patient and lesion facts
(the stage-1 capture form). :func:`check_capture` validates the facts with the same row
translation a metadata table goes through; :func:`ingest_upload` then writes each photograph and
a one-row metadata table into a private temporary folder and runs :func:`ingest_paths` on it, one
file at a time, so each photograph gets its own verdict: recorded (with its SOP results and
plain-word advice), excluded by the SOP, a duplicate of an earlier image, or quarantined with the
reason. Every transactional guarantee of the pipeline holds (intent log, one transaction per
image group, resumable ledger); nothing of the upload outlives the call but the registry's
records. The browser's file names are used for the answer only: the pipeline sees
``upload-NN.ext`` and stores no name at all.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select

from dermset.ingest.pipeline import IngestError, IngestSummary, ingest_paths
from dermset.ingest.quality import CheckResult
from dermset.ingest.sop_advice import Advice, advice_for, stored_checks
from dermset.ingest.sources import IMAGE_SUFFIXES
from dermset.model.fields import FIELD_BY_NAME
from dermset.model.mappings import ColumnPlan, MappingSpec, RowTranslator
from dermset.model.problems import Problem
from dermset.protocol import Protocol
from dermset.registry.project import Project
from dermset.registry.tables import Image, Lesion, Quarantine

#: the facts the capture form asks for, in order ("age" is the exact age; the registry keeps
#: its ISIC-rounded form)
CAPTURE_FIELDS = (
    "patient_id",
    "lesion_id",
    "age",
    "sex",
    "fitzpatrick_skin_type",
    "anatom_site_general",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
)
REQUIRED = ("patient_id", "lesion_id")
UPLOAD_MAPPING = MappingSpec(
    name="upload",
    description="the capture page of the web app",
    columns={"filename": ["filename"], **{f: [f] for f in CAPTURE_FIELDS}},
    required=["filename"],
)
#: how long an upload waits for another ingest (e.g. a folder import) to finish
DEFAULT_WAIT = 60.0
_BUSY = "another ingest is running"


@dataclass(frozen=True)
class UploadFile:
    """One photograph as the browser sent it (*name* only labels the answer)."""

    name: str
    data: bytes


@dataclass
class FileOutcome:
    position: int  # 1-based, in upload order
    name: str
    #: recorded | sop_failed | duplicate | quarantined
    outcome: str
    image_id: str | None = None
    verdict: str | None = None  # pass | warn | fail
    checks: list[CheckResult] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)
    message: str = ""
    rule: str = ""
    #: the same file had been uploaded before (nothing new was recorded)
    already_uploaded: bool = False
    duplicate_of: str | None = None

    @property
    def usable(self) -> bool:
        """The photograph is part of the dataset (it may still carry warnings)."""
        return self.outcome == "recorded"


@dataclass
class UploadReport:
    problems: list[Problem] = field(default_factory=list)  # of the form: nothing was uploaded
    files: list[FileOutcome] = field(default_factory=list)
    lesion_id: str | None = None  # the lesion's pseudonym

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def usable_ids(self) -> list[str]:
        return [f.image_id for f in self.files if f.usable and f.image_id]


def capture_fields(protocol: Protocol) -> list[str]:
    """The capture-form fields this protocol lets a clinician see, in form order."""
    visible = protocol.visible_fields("clinician")
    return [
        name
        for name in CAPTURE_FIELDS
        if (FIELD_BY_NAME.get("age_approx" if name == "age" else name) is not None)
        and ("age_approx" if name == "age" else name) in visible
    ]


def check_capture(protocol: Protocol, values: dict[str, str]) -> list[Problem]:
    """Problems of the capture form's values, each naming its field (empty: valid)."""
    row = {k: (values.get(k) or "").strip() for k in CAPTURE_FIELDS}
    problems = [
        Problem(
            f"the {what} is required: photographs must be linked to their "
            + ("patient" if name == "patient_id" else "lesion"),
            rule="missing_value",
            field=name,
        )
        for name, what in (("patient_id", "patient id"), ("lesion_id", "lesion id"))
        if not row[name]
    ]
    header = ["filename", *CAPTURE_FIELDS]
    translator = RowTranslator(ColumnPlan(UPLOAD_MAPPING, header), protocol.taxonomy())
    result = translator.translate(2, {"filename": "upload", **row})
    for p in result.problems:
        if p.severity == "error":
            name = p.column or ("age" if p.field == "age_approx" else p.field)
            problems.append(replace(p, row=None, file=None, column=None, field=name))
    return problems


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ""


def _ingest_one(project: Project, path: Path, table: Path, actor: str, site: str, wait: float):
    deadline = time.monotonic() + wait
    while True:
        try:
            return ingest_paths(
                project,
                [str(path)],
                metadata=table,
                mapping=UPLOAD_MAPPING,
                workers=1,
                actor=actor,
                site=site,
            )
        except IngestError as exc:
            if _BUSY not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _write_table(path: Path, filename: str, values: dict[str, str]) -> None:
    header = ["filename", *CAPTURE_FIELDS]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerow([filename, *((values.get(k) or "").strip() for k in CAPTURE_FIELDS)])


def ingest_upload(
    project: Project,
    files: Sequence[UploadFile],
    values: dict[str, str],
    *,
    actor: str,
    site: str = "",
    wait: float = DEFAULT_WAIT,
) -> UploadReport:
    """Validate the capture facts, then take each photograph in; see the module doc.

    Raises :class:`IngestError` only when the registry stayed busy with another ingest for
    *wait* seconds (nothing of this upload was recorded then).
    """
    report = UploadReport(problems=check_capture(project.protocol, values))
    if not files:
        report.problems.append(
            Problem("choose or take at least one photograph", rule="no_files", field="files")
        )
    if report.problems:
        return report
    folder = Path(tempfile.mkdtemp(prefix="dermset-upload-"))  # mode 0700
    try:
        for position, upload in enumerate(files, start=1):
            name = f"upload-{position:02d}{_suffix(upload.name)}"
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(upload.data)
            table = folder / f"upload-{position:02d}.csv"
            _write_table(table, name, values)
            summary = _ingest_one(project, path, table, actor, site, wait)
            report.files.append(_outcome(project, position, upload.name, name, summary))
            path.unlink()
            table.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with project.db.read() as s:
        first = next((f.image_id for f in report.files if f.image_id), None)
        if first is not None:
            report.lesion_id = s.execute(
                select(Lesion.pseudonym)
                .join(Image, Image.lesion_id == Lesion.id)
                .where(Image.image_id == first)
            ).scalar()
    return report


def _outcome(
    project: Project, position: int, shown: str, stored_name: str, summary: IngestSummary
) -> FileOutcome:
    out = FileOutcome(position, shown, "quarantined")
    out.already_uploaded = summary.already_ingested > 0
    if summary.problems:
        problem = summary.problems[0]
        out.message, out.rule = problem.message, problem.rule
        return out
    if not summary.image_ids:  # seen before, and quarantined then: show the recorded reason
        with project.db.read() as s:
            entry = s.execute(
                select(Quarantine)
                .where(
                    Quarantine.source_hmac == project.keys.filename(stored_name),
                    Quarantine.resolved.is_(False),
                )
                .order_by(Quarantine.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        out.message = entry.reason if entry else "this file could not be taken in"
        out.rule = entry.rule if entry else "quarantined"
        return out
    sop = project.protocol.sop
    with project.db.read() as s:
        img = s.execute(select(Image).where(Image.image_id == summary.image_ids[0])).scalar_one()
        checks = [
            CheckResult(c.check, c.value, c.verdict, c.note or "")  # type: ignore[arg-type]
            for c in stored_checks(s, img.id)
        ]
        original = s.get(Image, img.duplicate_of) if img.duplicate_of else None
        out.image_id, out.verdict, out.checks = img.image_id, img.quality_verdict, checks
        out.advice = advice_for(checks, sop)
        out.outcome = {"active": "recorded", "sop_failed": "sop_failed"}.get(
            img.status, "duplicate" if img.status == "duplicate" else img.status
        )
        out.duplicate_of = original.image_id if original is not None else None
    if out.already_uploaded:
        out.message = (
            f"this photograph was uploaded before (as {out.image_id}); nothing new was recorded"
        )
    elif out.outcome == "sop_failed":
        out.message = "not usable: " + "; ".join(str(a) for a in out.advice if a.retake)
    elif out.outcome == "duplicate":
        out.message = (
            f"the same photograph is already in the registry as {out.duplicate_of}"
            if out.duplicate_of
            else "a duplicate of an image already in the registry"
        )
    return out


__all__ = [
    "CAPTURE_FIELDS",
    "FileOutcome",
    "UploadFile",
    "UploadReport",
    "capture_fields",
    "check_capture",
    "ingest_upload",
]
