"""A curator's review of the duplicate groups the duplicate search formed: confirm or split.

(Added for the web app's duplicate-group page; it builds on :func:`listing.list_groups`.)

A group is what the search leaves in the registry (docs/dev/interfaces.md): a kept image and the
images excluded as its duplicates (``status = "duplicate"``, ``duplicate_of`` = the kept one).
The curator looks at them side by side and either *confirms* the group (recorded in the audit
log, so it leaves the to-do list until the group changes) or *splits* an image off it: that
image was not a copy (a different lesion on similar skin, a genuine second capture), so it
returns to the dataset. Identical decoded pixels are the same photograph and cannot be split.
Both decisions are audited with the curator's name and reason in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.ingest.dedup.listing import list_groups
from dermset.ingest.dedup.resolve import Evidence
from dermset.registry.project import Project
from dermset.registry.tables import AuditEvent, Image

REVIEW_ROLES = frozenset({"curator"})
MAX_REASON = 2000


class DuplicateReviewError(ValueError):
    def __init__(self, message: str, *, rule: str, field: str | None = None):
        super().__init__(message)
        self.rule = rule
        self.field = field


@dataclass
class Member:
    image_id: str
    exact: bool  # same decoded pixels as the kept image
    quality_score: float | None
    width: int | None
    height: int | None
    #: the search's evidence linking this image into the group (None for the kept image)
    evidence: Evidence | None = None


@dataclass
class GroupForReview:
    kept: Member
    excluded: list[Member] = field(default_factory=list)
    confirmed_by: str | None = None  # the curator who confirmed exactly this group

    @property
    def image_ids(self) -> list[str]:
        return [self.kept.image_id, *(m.image_id for m in self.excluded)]


def _member(img: Image, kept: Image | None = None, evidence: Evidence | None = None) -> Member:
    exact = (
        kept is not None and img.pixel_sha256 is not None and img.pixel_sha256 == kept.pixel_sha256
    )
    return Member(img.image_id, exact, img.quality_score, img.width, img.height, evidence)


def _confirmations(session: Session, keys: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Latest confirmation per kept image: (curator, the excluded ids confirmed)."""
    out: dict[str, tuple[str, list[str]]] = {}
    if not keys:
        return out
    for ev in session.execute(
        select(AuditEvent)
        .where(
            AuditEvent.entity == "duplicate_group",
            AuditEvent.action == "confirm",
            AuditEvent.entity_key.in_(keys),
        )
        .order_by(AuditEvent.seq)
    ).scalars():
        excluded = json.loads(ev.changes).get("excluded", [None, []])[1] or []
        out[ev.entity_key] = (ev.actor, sorted(excluded))
    return out


def duplicate_groups(session: Session, *, limit: int = 200) -> list[GroupForReview]:
    """The groups in the registry with their evidence, unconfirmed first, then by kept image."""
    listed = list_groups(session)
    ids = {i for g in listed for i in (g.kept, *g.excluded)}
    images = {
        img.image_id: img
        for start in range(0, len(ids), 500)
        for img in session.execute(
            select(Image).where(Image.image_id.in_(sorted(ids)[start : start + 500]))
        ).scalars()
    }
    out: list[GroupForReview] = []
    for g in listed:
        kept = images[g.kept]
        members = []
        for image_id in g.excluded:
            link = next((e for e in g.evidence if image_id in (e.a, e.b)), None)
            members.append(_member(images[image_id], kept, link))
        out.append(GroupForReview(_member(kept), members))
    confirmed = _confirmations(session, [g.kept.image_id for g in out])
    for g in out:
        hit = confirmed.get(g.kept.image_id)
        if hit and hit[1] == sorted(m.image_id for m in g.excluded):
            g.confirmed_by = hit[0]
    out.sort(key=lambda g: (g.confirmed_by is not None, g.kept.image_id))
    return out[:limit]


def _check(role: str, reason: str, *, needed: bool) -> str:
    if role not in REVIEW_ROLES:
        raise DuplicateReviewError(
            f"only a curator reviews duplicate groups, not a {role}", rule="wrong_role"
        )
    text = (reason or "").strip()
    if needed and not text:
        raise DuplicateReviewError(
            "splitting an image off a duplicate group needs a reason",
            rule="missing_reason",
            field="reason",
        )
    if len(text) > MAX_REASON:
        raise DuplicateReviewError(
            f"the reason is longer than {MAX_REASON} characters", rule="reason_too_long"
        )
    return text


def _kept(session: Session, image_id: str) -> tuple[Image, list[Image]]:
    kept = session.execute(
        select(Image).where(Image.image_id == image_id.strip())
    ).scalar_one_or_none()
    excluded = (
        list(
            session.execute(
                select(Image)
                .where(Image.duplicate_of == kept.id, Image.status == "duplicate")
                .order_by(Image.id)
            ).scalars()
        )
        if kept is not None
        else []
    )
    if kept is None or not excluded:
        raise DuplicateReviewError(
            f"{image_id} is not the kept image of a duplicate group",
            rule="not_a_group",
            field="image",
        )
    return kept, excluded


def confirm_group(
    session: Session, project: Project, *, kept: str, actor: str, role: str, reason: str = ""
) -> GroupForReview:
    """Record that a curator looked at the group and agrees with it."""
    text = _check(role, reason, needed=False)
    img, excluded = _kept(session, kept)
    ids = [e.image_id for e in excluded]
    project.audit.record(
        session,
        actor=actor,
        entity="duplicate_group",
        key=img.image_id,
        action="confirm",
        changes={"excluded": (None, ids), "reason": (None, text or None)},
    )
    return GroupForReview(_member(img), [_member(e, img) for e in excluded], actor)


def split_image(
    session: Session, project: Project, *, image: str, actor: str, role: str, reason: str
) -> Image:
    """Return an excluded image to the dataset: it is not a copy of the kept one."""
    text = _check(role, reason, needed=True)
    img = session.execute(
        select(Image).where(Image.image_id == image.strip()).with_for_update()
    ).scalar_one_or_none()
    if img is None or img.status != "duplicate" or img.duplicate_of is None:
        raise DuplicateReviewError(
            f"{image} is not excluded as a duplicate", rule="not_a_duplicate", field="image"
        )
    kept = session.get(Image, img.duplicate_of)
    assert kept is not None
    if img.pixel_sha256 is not None and img.pixel_sha256 == kept.pixel_sha256:
        raise DuplicateReviewError(
            f"{img.image_id} has exactly the same pixels as {kept.image_id}: it is the same "
            "photograph and stays excluded",
            rule="identical_pixels",
            field="image",
        )
    img.status, img.duplicate_of = "active", None
    project.audit.record(
        session,
        actor=actor,
        entity="image",
        key=img.image_id,
        action="duplicate_split",
        changes={
            "status": ("duplicate", "active"),
            "duplicate_of": (kept.image_id, None),
            "reason": (None, text),
        },
    )
    return img
