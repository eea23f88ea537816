"""A curator's override of the acquisition SOP: keep an image the SOP excluded, with a reason.

The SOP excludes an image whose check failed (``status = "sop_failed"``, when the protocol's
``sop.exclude_on_fail`` is on). Sometimes the image is still the best there will be — the lesion
was excised the same day, or the check misjudged an unusual lesion — and a curator keeps it. The
override puts the image back into the dataset (``active``) and writes the reason to the audit log
in the same transaction, so every kept-despite-SOP image can be found and justified later; its
stored check results are left as they were measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.project import Project
from dermset.registry.tables import AuditEvent, Image

#: roles that may override the SOP
OVERRIDE_ROLES = frozenset({"curator"})
MAX_REASON = 2000


class SopOverrideError(ValueError):
    """An override the rules refuse, with a message a curator can act on."""

    def __init__(self, message: str, *, rule: str, field: str | None = None):
        super().__init__(message)
        self.rule = rule
        self.field = field


@dataclass(frozen=True)
class Override:
    image_id: str
    actor: str
    reason: str
    at: datetime


def override_sop(
    session: Session, project: Project, *, image_id: str, actor: str, role: str, reason: str
) -> Image:
    """Return an SOP-excluded image to the dataset; audited with *reason*."""
    if role not in OVERRIDE_ROLES:
        raise SopOverrideError(
            f"only a {' or '.join(sorted(OVERRIDE_ROLES))} may override the SOP, not a {role}",
            rule="wrong_role",
            field="role",
        )
    text = (reason or "").strip()
    if not text:
        raise SopOverrideError(
            "an SOP override needs a reason (why this image is kept)",
            rule="missing_reason",
            field="reason",
        )
    if len(text) > MAX_REASON:
        raise SopOverrideError(
            f"the reason is {len(text)} characters long; at most {MAX_REASON}",
            rule="reason_too_long",
            field="reason",
        )
    img = session.execute(
        select(Image).where(Image.image_id == image_id.strip()).with_for_update()
    ).scalar_one_or_none()
    if img is None:
        raise SopOverrideError(f"unknown image {image_id!r}", rule="unknown_image", field="image")
    if img.status != "sop_failed":
        raise SopOverrideError(
            f"{img.image_id} is not excluded by the SOP (its status is {img.status})",
            rule="not_sop_failed",
            field="image",
        )
    img.status = "active"
    project.audit.record(
        session,
        actor=actor,
        entity="image",
        key=img.image_id,
        action="sop_override",
        changes={"status": ("sop_failed", "active"), "reason": (None, text)},
    )
    return img


def excluded_by_sop(session: Session, limit: int = 200) -> list[Image]:
    """Images the SOP currently excludes, newest first."""
    return list(
        session.execute(
            select(Image).where(Image.status == "sop_failed").order_by(Image.id.desc()).limit(limit)
        ).scalars()
    )


def overrides(session: Session, limit: int = 100) -> list[Override]:
    """The most recent SOP overrides, from the audit log."""
    rows = session.execute(
        select(AuditEvent)
        .where(AuditEvent.entity == "image", AuditEvent.action == "sop_override")
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    ).scalars()
    out = []
    for ev in rows:
        reason = json.loads(ev.changes).get("reason", [None, ""])[1]
        out.append(Override(ev.entity_key, ev.actor, reason or "", ev.at))
    return out
