"""Turning a diagnosis term someone typed into a category code of the study's taxonomy."""

from __future__ import annotations

from dermset.model.taxonomy import Taxonomy, UnknownDiagnosis
from dermset.verification.errors import VerificationError


def resolve(taxonomy: Taxonomy, term: str | None, field: str = "diagnosis") -> str:
    """The category code for a code, name, ISIC term, or HAM10000 / PAD-UFES-20 alias."""
    try:
        return taxonomy.resolve(term or "").code
    except UnknownDiagnosis as exc:
        raise VerificationError(str(exc), rule="unknown_diagnosis", field=field) from None


def isic_term(taxonomy: Taxonomy, term: str) -> str:
    """The full ISIC diagnosis for a term: the term itself when it is one, else its category's."""
    text = term.strip()
    return text if ":" in text else taxonomy.resolve(text).isic_diagnosis
