"""Dermoscopic structures recorded for an image, by source (clinical, review, consensus)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dermset.model.structures import StructureVocabulary, UnknownStructure
from dermset.registry.tables import StructureFinding
from dermset.verification.errors import VerificationError


def resolve(vocabulary: StructureVocabulary, terms: Iterable[str] | str | None) -> list[str]:
    """Sorted unique structure codes for terms (codes, names, or a ``;``-separated string)."""
    try:
        if terms is None or isinstance(terms, str):
            return vocabulary.parse_list(terms)
        return sorted({vocabulary.resolve(t) for t in terms if t.strip()})
    except UnknownStructure as exc:
        raise VerificationError(
            f"{exc}; see the protocol's structure vocabulary (IDS 2016 terms)",
            rule="unknown_structure",
            field="structures",
        ) from None


def get(session: Session, image_pk: int, source: str, annotator: str = "") -> list[str]:
    return sorted(
        session.execute(
            select(StructureFinding.structure).where(
                StructureFinding.image_id == image_pk,
                StructureFinding.source == source,
                StructureFinding.annotator == annotator,
                StructureFinding.present.is_(True),
            )
        ).scalars()
    )


def by_annotator(session: Session, image_pk: int, source: str) -> dict[str, list[str]]:
    """Everyone's findings of one source for an image, in one query."""
    out: dict[str, list[str]] = {}
    for annotator, code in session.execute(
        select(StructureFinding.annotator, StructureFinding.structure)
        .where(
            StructureFinding.image_id == image_pk,
            StructureFinding.source == source,
            StructureFinding.present.is_(True),
        )
        .order_by(StructureFinding.structure)
    ):
        out.setdefault(annotator, []).append(code)
    return out


def add(session: Session, image_pk: int, source: str, annotator: str, codes: Iterable[str]) -> None:
    """Findings of a record that has none yet (no query: the caller knows it is new)."""
    session.add_all(
        StructureFinding(
            image_id=image_pk, source=source, annotator=annotator, structure=c, present=True
        )
        for c in sorted(set(codes))
    )


def put(
    session: Session, image_pk: int, source: str, annotator: str, codes: Iterable[str]
) -> tuple[list[str], list[str]]:
    """Replace one person's findings for an image; returns (before, after)."""
    before = get(session, image_pk, source, annotator)
    after = sorted(set(codes))
    if before != after:
        session.execute(
            delete(StructureFinding).where(
                StructureFinding.image_id == image_pk,
                StructureFinding.source == source,
                StructureFinding.annotator == annotator,
            )
        )
        session.add_all(
            StructureFinding(
                image_id=image_pk, source=source, annotator=annotator, structure=c, present=True
            )
            for c in after
        )
        session.flush()
    return before, after
