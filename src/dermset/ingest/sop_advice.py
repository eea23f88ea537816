"""What an SOP verdict means for the person holding the dermatoscope, in plain words.

The checks (quality.py) speak in measures ("sharpness 0.12 < 0.2"); a clinician at the bedside
needs the problem and what to do about it ("out of focus — retake"). A failed check means the
image will not be used (retake); a warning means it is usable but a better capture is worth a
second try. A check a study adds to its protocol without wording here falls back to the
protocol's own description of the check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermset.protocol import SOP
from dermset.registry.quality_tables import QualityCheck

#: check -> (the problem, what to do about it)
PLAIN_WORDS: dict[str, tuple[str, str]] = {
    "resolution_mp": (
        "image too small",
        "use the camera at full resolution, without digital zoom or screenshots",
    ),
    "sharpness": (
        "out of focus",
        "hold the dermatoscope flat and still on the skin and let the camera focus",
    ),
    "underexposure": ("too dark", "switch the dermatoscope light on or charge it"),
    "overexposure": ("too bright", "lower the light or the exposure"),
    "clipped_fraction": (
        "glare or burnt-out areas",
        "use polarised mode or immersion fluid and press the dermatoscope flat",
    ),
    "lesion_offset": ("lesion not centred", "put the lesion in the middle of the field"),
    "lesion_edge_contact": (
        "lesion cut off at the edge",
        "show the whole lesion with a rim of normal skin around it",
    ),
    "colour_cast": (
        "colour cast",
        "check the dermatoscope's light and the phone's white balance",
    ),
}
NOT_MEASURED = ("could not be checked", "make sure the lesion is inside the dermatoscope's field")


class _Check(TypingProtocol):
    check: str
    value: float | None
    verdict: str


@dataclass(frozen=True)
class Advice:
    check: str
    verdict: str  # warn | fail
    problem: str
    action: str

    @property
    def retake(self) -> bool:
        return self.verdict == "fail"

    def __str__(self) -> str:
        if self.retake:
            return f"{self.problem} — retake: {self.action}"
        return f"{self.problem} — usable; if you can, retake: {self.action}"


def advise(result: _Check, sop: SOP) -> Advice | None:
    """Plain-word advice for one check result (None when it passed)."""
    if result.verdict == "pass":
        return None
    if result.value is None:
        problem, action = NOT_MEASURED
        problem = f"{_label(result.check, sop)} {problem}"
    else:
        problem, action = PLAIN_WORDS.get(
            result.check, (_label(result.check, sop), "check the capture against the SOP")
        )
    return Advice(result.check, result.verdict, problem, action)


def advice_for(results: Iterable[_Check], sop: SOP) -> list[Advice]:
    """Advice for every check that did not pass, failures first, in the protocol's order."""
    order = {name: i for i, name in enumerate(sop.checks)}
    found = [a for r in results if (a := advise(r, sop)) is not None]
    return sorted(found, key=lambda a: (not a.retake, order.get(a.check, len(order))))


def stored_checks(session: Session, image_pk: int) -> list[QualityCheck]:
    """The SOP results recorded for an image at ingest."""
    return list(
        session.execute(
            select(QualityCheck).where(QualityCheck.image_id == image_pk).order_by(QualityCheck.id)
        ).scalars()
    )


def _label(check: str, sop: SOP) -> str:
    spec = sop.checks.get(check)
    return (spec.description if spec and spec.description else check.replace("_", " ")).split(":")[
        0
    ]
