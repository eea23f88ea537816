"""Importing a validated metadata table into the registry, idempotently and with audit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from dermset.ingest.metadata import TableReport, translate_table
from dermset.ingest.table_reader import TableError, open_table
from dermset.model.mappings import MappingSpec, RowResult
from dermset.registry import quarantine
from dermset.registry.audit import diff
from dermset.registry.project import Project
from dermset.registry.tables import Acquisition, Image, Lesion, Patient

IMAGE_FIELDS = (
    "diagnosis",
    "diagnosis_isic",
    "benign_malignant",
    "diagnosis_confirm_type",
    "verification_stage",
)
ACQ_FIELDS = (
    "age_approx",
    "sex",
    "fitzpatrick_skin_type",
    "image_type",
    "dermoscopic_type",
    "acquisition_device",
    "acquisition_day",
)


def image_public_id(n: int) -> str:
    return f"IMG_{n:07d}"


@dataclass
class _Ids:
    next_image: int


class _Writer:
    """Creates or updates patients, lesions and images for one import, auditing each change."""

    def __init__(
        self,
        project: Project,
        session: Session,
        actor: str,
        source: str,
        site: str,
        report: TableReport,
    ):
        self.p, self.s, self.actor, self.source, self.site = project, session, actor, source, site
        self.report = report
        self.audit = project.audit
        self.patients: dict[str, Patient] = {}
        self.lesions: dict[str, Lesion] = {}
        max_id = session.execute(select(func.max(Image.id))).scalar() or 0
        self.ids = _Ids(next_image=max_id + 1)
        self.shift_days = project.protocol.privacy.date_shift_days

    def _log(self, entity: str, key: str, action: str, changes: dict[str, Any]) -> None:
        self.audit.record(
            self.s, actor=self.actor, entity=entity, key=key, action=action, changes=changes
        )

    def patient(self, local: str | None, result: RowResult) -> Patient | None:
        if local is None:
            return None
        pseudonym = self.p.keys.patient_pseudonym(local, self.site)
        pat = self.patients.get(pseudonym)
        if pat is None:
            pat = self.s.execute(
                select(Patient).where(Patient.pseudonym == pseudonym)
            ).scalar_one_or_none()
        rec = result.record
        assert rec is not None
        if pat is None:
            pat = Patient(
                pseudonym=pseudonym,
                sex=rec.sex,
                fitzpatrick_skin_type=rec.fitzpatrick_skin_type,
                day_shift=self.p.keys.day_shift(pseudonym, self.shift_days),
            )
            self.s.add(pat)
            self.s.flush()
            self.report.patients_created += 1
            self._log(
                "patient",
                pseudonym,
                "create",
                {
                    "sex": (None, pat.sex),
                    "fitzpatrick_skin_type": (None, pat.fitzpatrick_skin_type),
                },
            )
        else:  # fill gaps only: the first value given for a patient is kept
            for name in ("sex", "fitzpatrick_skin_type"):
                value = getattr(rec, name)
                if getattr(pat, name) is None and value is not None:
                    self._log("patient", pseudonym, "update", {name: (None, value)})
                    setattr(pat, name, value)
        self.patients[pseudonym] = pat
        return pat

    def lesion(self, local: str | None, patient: Patient | None, result: RowResult) -> Lesion:
        # An image without a lesion id shows a lesion of its own.
        key = local if local is not None else f"image:{result.source_id}"
        pseudonym = self.p.keys.lesion_pseudonym(key, self.site)
        les = self.lesions.get(pseudonym)
        if les is None:
            les = self.s.execute(
                select(Lesion).where(Lesion.pseudonym == pseudonym)
            ).scalar_one_or_none()
        rec = result.record
        assert rec is not None
        if les is None:
            les = Lesion(
                pseudonym=pseudonym,
                patient_id=patient.id if patient else None,
                anatom_site_general=rec.anatom_site_general,
                clin_size_long_diam_mm=rec.clin_size_long_diam_mm,
            )
            self.s.add(les)
            self.s.flush()
            self.report.lesions_created += 1
            self._log(
                "lesion",
                pseudonym,
                "create",
                {
                    "patient_id": (None, patient.pseudonym if patient else None),
                    "anatom_site_general": (None, les.anatom_site_general),
                    "clin_size_long_diam_mm": (None, les.clin_size_long_diam_mm),
                },
            )
        else:
            for name in ("anatom_site_general", "clin_size_long_diam_mm"):
                value = getattr(rec, name)
                if getattr(les, name) is None and value is not None:
                    self._log("lesion", pseudonym, "update", {name: (None, value)})
                    setattr(les, name, value)
        self.lesions[pseudonym] = les
        return les

    def image(self, result: RowResult) -> None:
        rec = result.record
        assert rec is not None
        patient = self.patient(result.patient_local, result)
        lesion = self.lesion(result.lesion_local, patient, result)
        wanted_img: dict[str, Any] = {
            "diagnosis": rec.diagnosis,
            "diagnosis_isic": result.diagnosis_isic,
            "benign_malignant": rec.benign_malignant,
            "diagnosis_confirm_type": rec.diagnosis_confirm_type,
            "verification_stage": rec.verification_stage,
            "patient_id": patient.id if patient else None,
            "lesion_id": lesion.id,
        }
        wanted_acq = {name: getattr(rec, name) for name in ACQ_FIELDS}
        if wanted_acq["acquisition_day"] is not None and patient is not None:
            wanted_acq["acquisition_day"] += patient.day_shift
        img = self.s.execute(
            select(Image).where(Image.source_id == result.source_id)
        ).scalar_one_or_none()
        if img is None:
            n = self.ids.next_image
            self.ids.next_image += 1
            img = Image(
                id=n,
                image_id=image_public_id(n),
                source_id=result.source_id,
                source=self.source,
                status="active",
                **wanted_img,
            )
            img.acquisition = Acquisition(**wanted_acq)
            self.s.add(img)
            self.report.imported += 1
            changes = {
                k: (None, v)
                for k, v in {**wanted_img, **wanted_acq}.items()
                if v is not None and k not in ("patient_id", "lesion_id")
            }
            changes["lesion_id"] = (None, lesion.pseudonym)
            if patient:
                changes["patient_id"] = (None, patient.pseudonym)
            self._log("image", img.image_id, "create", changes)
            return
        current_img = {k: getattr(img, k) for k in wanted_img}
        acq = img.acquisition or Acquisition(image_id=img.id)
        current_acq = {k: getattr(acq, k) for k in ACQ_FIELDS}
        changes = diff(current_img, wanted_img) | diff(current_acq, wanted_acq)
        if not changes:
            self.report.unchanged += 1
            return
        for k, (_, after) in changes.items():
            setattr(img if k in wanted_img else acq, k, after)
        if img.acquisition is None:
            img.acquisition = acq
        self.report.updated += 1
        self._log("image", img.image_id, "update", changes)


def import_table(
    project: Project,
    path: str | Path,
    spec: MappingSpec,
    *,
    actor: str,
    site: str = "",
    source: str | None = None,
) -> TableReport:
    """Import one table: valid rows into the registry, invalid rows into quarantine.

    One transaction for the whole file: a crash or an interrupt leaves the registry as it was.
    """
    path = Path(path)
    report = TableReport(file=path.name, mapping=spec.name)
    file_key = project.keys.filename(path.name)
    taxonomy = project.protocol.taxonomy()
    try:
        table = open_table(path)
    except TableError as exc:
        report.problems.append(exc.problem)
        with project.db.session() as s:
            quarantine.add(s, kind="table", source_hmac=file_key, problem=exc.problem)
        return report
    identifier_columns = {
        c for t in ("patient_id", "lesion_id", "filename") for c in spec.columns.get(t, [])
    }
    with project.db.session() as s:
        if not project.db.is_sqlite:  # one importer at a time assigns image numbers
            s.execute(text("LOCK TABLE image IN SHARE ROW EXCLUSIVE MODE"))
        writer = _Writer(project, s, actor, source or spec.name, site, report)
        for n, result in enumerate(translate_table(table, spec, taxonomy, report)):
            if result.ok:
                writer.image(result)
            else:
                for problem in result.problems:
                    if problem.severity != "error":
                        continue
                    details = {"source_id": result.source_id, "mapping": spec.name}
                    if problem.column and problem.column not in identifier_columns:
                        details["value"] = (
                            None if problem.value is None else str(problem.value)[:200]
                        )
                    if quarantine.add(
                        s, kind="table_row", source_hmac=file_key, problem=problem, details=details
                    ):
                        report.quarantined += 1
            if n % 2000 == 1999:
                s.flush()
                writer.patients.clear()
                writer.lesions.clear()
        s.flush()
    return report
