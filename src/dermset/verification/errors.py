"""The one error the verification workflow raises: a rule of the method was broken.

Each carries a short ``rule`` (for the quarantine list and for tests) and the ``field`` of the
input it is about, so that a label-file import can name the column of the offending row.
"""

from __future__ import annotations


class VerificationError(ValueError):
    """A request the workflow refuses, with a message a clinician can act on."""

    def __init__(self, message: str, *, rule: str, field: str | None = None):
        super().__init__(message)
        self.rule = rule
        self.field = field
