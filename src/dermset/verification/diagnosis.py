"""Turning a diagnosis term someone typed into a category code of the study's taxonomy."""

from __future__ import annotations

import difflib

from dermset.model.taxonomy import Taxonomy, UnknownDiagnosis
from dermset.verification.errors import VerificationError


def resolve(taxonomy: Taxonomy, term: str | None, field: str = "diagnosis") -> str:
    """The category code for a code, name, ISIC term, or HAM10000 / PAD-UFES-20 alias."""
    try:
        return taxonomy.resolve(term or "").code
    except UnknownDiagnosis as exc:
        message = str(exc)
        names = {t for c in taxonomy.categories for t in (c.code, c.name, *c.aliases)}
        close = difflib.get_close_matches((term or "").strip(), sorted(names), n=1, cutoff=0.75)
        if close:
            message += f" — did you mean {close[0]!r}?"
        raise VerificationError(message, rule="unknown_diagnosis", field=field) from None


def isic_term(taxonomy: Taxonomy, term: str) -> str:
    """The full ISIC diagnosis for a term: the term itself when it is one, else its category's."""
    text = term.strip()
    return text if ":" in text else taxonomy.resolve(text).isic_diagnosis
