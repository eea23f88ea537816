"""Dermoscopic structures recorded for an image, by source (clinical, review, consensus)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dermset.model.structures import StructureVocabulary, UnknownStructure
from dermset.registry.tables import Consensus, Image, StructureFinding
from dermset.verification.errors import VerificationError

#: sources of an image's final structures, most authoritative first
STRUCTURE_SOURCES = ("consensus", "clinical", "import")


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


def final_structures(session: Session) -> dict[int, tuple[str, list[str]]]:
    """image pk -> (source, structures) of the most authoritative source that annotated it.

    A consensus record counts even when it found no structure (the reviewers saw none).
    """
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for pk, source, code in session.execute(
        select(StructureFinding.image_id, StructureFinding.source, StructureFinding.structure)
        .join(Image, Image.id == StructureFinding.image_id)
        .where(
            Image.status == "active",
            StructureFinding.present.is_(True),
            StructureFinding.source.in_(STRUCTURE_SOURCES),
        )
        .order_by(StructureFinding.image_id, StructureFinding.structure)
        .execution_options(yield_per=10_000)
    ):
        found[pk][source].append(code)
    closed = set(
        session.execute(
            select(Consensus.image_id).where(Consensus.status.in_(("consensus", "adjudicated")))
        ).scalars()
    )
    out: dict[int, tuple[str, list[str]]] = {}
    for pk in set(found) | closed:
        by_source = found.get(pk, {})
        if pk in closed:
            out[pk] = ("consensus", sorted(set(by_source.get("consensus", []))))
            continue
        for source in STRUCTURE_SOURCES:
            if by_source.get(source):
                out[pk] = (source, sorted(set(by_source[source])))
                break
    return out
