"""The quarantine list: input that could not be taken in, with its reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.model.problems import Problem
from dermset.registry.tables import Quarantine


def add(
    session: Session,
    *,
    kind: str,
    source_hmac: str | None,
    problem: Problem,
    details: dict[str, Any] | None = None,
) -> bool:
    """Quarantine one problem unless the same one is already open; True when added."""
    exists = session.execute(
        select(Quarantine.id)
        .where(
            Quarantine.kind == kind,
            Quarantine.source_hmac == source_hmac,
            Quarantine.row == problem.row,
            Quarantine.field == problem.field,
            Quarantine.rule == problem.rule,
            Quarantine.resolved.is_(False),
        )
        .limit(1)
    ).first()
    if exists:
        return False
    session.add(
        Quarantine(
            kind=kind,
            source_hmac=source_hmac,
            row=problem.row,
            field=problem.field or problem.column,
            rule=problem.rule,
            reason=str(problem),
            details=details,
        )
    )
    return True


def open_entries(session: Session, limit: int | None = None) -> list[Quarantine]:
    q = select(Quarantine).where(Quarantine.resolved.is_(False)).order_by(Quarantine.id)
    if limit:
        q = q.limit(limit)
    return list(session.execute(q).scalars())
