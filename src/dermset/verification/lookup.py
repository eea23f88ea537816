"""Finding images and lesions by the names people use for them.

Images are named by the registry's public ``image_id`` or by the ``source_id`` their source gave
them; lesions by the site's own lesion id (turned into its pseudonym with the project secret) or
by the pseudonym the registry shows.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.registry.keys import Keyring
from dermset.registry.tables import Image, Lesion
from dermset.verification.errors import VerificationError


def find_image(session: Session, ref: str) -> Image | None:
    """The image whose ``image_id`` or, failing that, ``source_id`` is *ref*."""
    ref = ref.strip()
    if not ref:
        return None
    img = session.execute(select(Image).where(Image.image_id == ref)).scalar_one_or_none()
    if img is None:
        img = session.execute(select(Image).where(Image.source_id == ref)).scalar_one_or_none()
    return img


def image(session: Session, ref: str | Image) -> Image:
    """The image named by *ref*, which must be part of the dataset (status ``active``)."""
    if isinstance(ref, Image):
        img = ref
    else:
        found = find_image(session, ref)
        if found is None:
            raise VerificationError(
                f"unknown image {ref!r} (neither a registry image_id nor a source id)",
                rule="unknown_image",
                field="image_id",
            )
        img = found
    if img.status != "active":
        raise VerificationError(
            f"image {img.image_id} is not part of the dataset (status {img.status})",
            rule="inactive_image",
            field="image_id",
        )
    return img


def lesion(session: Session, keys: Keyring, ref: str | Lesion, site: str = "") -> Lesion:
    """The lesion named by the site's local id (pseudonymised with *site*) or its pseudonym."""
    if isinstance(ref, Lesion):
        return ref
    text = ref.strip()
    if text:
        pseudonym = keys.lesion_pseudonym(text, site)
        found = session.execute(
            select(Lesion).where(Lesion.pseudonym.in_({pseudonym, text}))
        ).scalar()
        if found is not None:
            return found
    # the local id is not repeated in the message: it may be an identifier, and messages end
    # up in the quarantine list (the caller shows the row's value to the user)
    raise VerificationError(
        "unknown lesion"
        + (f" for site {site!r}" if site else " (no --site given)")
        + "; give the site's own lesion id with the site it was imported with, or the "
        "registry's LES_ pseudonym",
        rule="unknown_lesion",
        field="lesion_id",
    )


def active_images_of(session: Session, lesion_pk: int) -> list[Image]:
    return list(
        session.execute(
            select(Image)
            .where(Image.lesion_id == lesion_pk, Image.status == "active")
            .order_by(Image.id)
        ).scalars()
    )


def person(name: str | None, what: str, field: str = "annotator") -> str:
    """A person's user name as the workflow records it (trimmed, never empty, <= 64 chars)."""
    text = (name or "").strip()
    if not text:
        raise VerificationError(f"{what} is empty", rule="missing_person", field=field)
    if len(text) > 64:
        raise VerificationError(
            f"{what} {text[:20]!r}… is longer than 64 characters",
            rule="invalid_person",
            field=field,
        )
    return text
