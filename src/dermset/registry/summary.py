"""Counts of the registry that `dermset status` shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from dermset.model.fields import FIELDS, Block
from dermset.registry.tables import Image, Lesion, Quarantine
from dermset.registry.views import image_rows


def status(session: Session) -> dict[str, Any]:
    """Patients, lesions, images, and counts per diagnosis, stage, status and block."""
    active = Image.status == "active"
    n_images = session.execute(select(func.count()).select_from(Image).where(active)).scalar()
    patients = session.execute(
        select(func.count(distinct(Image.patient_id))).where(active, Image.patient_id.is_not(None))
    ).scalar()
    lesions = session.execute(
        select(func.count(distinct(Image.lesion_id))).where(active, Image.lesion_id.is_not(None))
    ).scalar()
    by_dx = dict(
        session.execute(
            select(func.coalesce(Image.diagnosis, "unlabelled"), func.count())
            .where(active)
            .group_by(Image.diagnosis)
        ).all()
    )
    by_stage = dict(
        session.execute(
            select(func.coalesce(Image.verification_stage, "none"), func.count())
            .where(active)
            .group_by(Image.verification_stage)
        ).all()
    )
    by_status = dict(
        session.execute(select(Image.status, func.count()).group_by(Image.status)).all()
    )
    quarantined = session.execute(
        select(func.count()).select_from(Quarantine).where(Quarantine.resolved.is_(False))
    ).scalar()
    return {
        "patients": patients,
        "lesions": lesions,
        "images": n_images,
        "records": sum(by_status.values()),
        "by_diagnosis": dict(sorted(by_dx.items())),
        "by_verification_stage": dict(sorted(by_stage.items())),
        "by_status": dict(sorted(by_status.items())),
        "quarantined": quarantined,
        "lesions_total": session.execute(select(func.count()).select_from(Lesion)).scalar(),
        "block_completeness": block_completeness(session),
    }


def block_completeness(session: Session) -> dict[str, dict[str, Any]]:
    """Per block: how many active images have every field of the block, and per field."""
    fields_by_block = {b.value: [f.name for f in FIELDS if f.block is b] for b in Block}
    filled = {f.name: 0 for f in FIELDS}
    complete = {b: 0 for b in fields_by_block}
    total = 0
    from dermset.registry.views import ImageFilter

    for row in image_rows(session, ImageFilter(status="active")):
        total += 1
        for name in filled:
            if row.get(name) is not None:
                filled[name] += 1
        for block, names in fields_by_block.items():
            if all(row.get(n) is not None for n in names):
                complete[block] += 1
    return {
        block: {
            "complete": complete[block],
            "of": total,
            "fields": {n: filled[n] for n in names},
        }
        for block, names in fields_by_block.items()
    }
