"""The study protocol: which terms, thresholds and rules of the model this study uses.

Everything study-specific lives in one versioned TOML file in the project folder
(``dermset.toml``). The defaults reproduce the method of the 2026 study (arXiv:2605.25168):
SOP thresholds for mobile dermatoscopy, nine diagnostic categories with histopathology required
for the malignant ones, three blinded reviewers with a 2-of-3 consensus rule and adjudication
otherwise, the IDS 2016 structures vocabulary, and what each role may see. Nothing of it is
hard-coded elsewhere. Pure: parses and renders text, reads no files itself.
"""

from __future__ import annotations

import tomllib
from typing import Any, Literal

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dermset.model.fields import FIELD_NAMES, FIELDS
from dermset.model.structures import IDS_2016_STRUCTURES, Structure, StructureVocabulary
from dermset.model.taxonomy import DEFAULT_CATEGORIES, Taxonomy
from dermset.model.vocabularies import Role

PROTOCOL_FILE = "dermset.toml"


class ProtocolError(ValueError):
    """The protocol file is missing, unreadable or breaks a rule."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Threshold(_Strict):
    """One SOP check: a measured value against a warn and a fail limit."""

    warn: float
    fail: float
    higher_is_better: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.higher_is_better and self.warn < self.fail:
            raise ValueError("warn must be >= fail when higher is better")
        if not self.higher_is_better and self.warn > self.fail:
            raise ValueError("warn must be <= fail when lower is better")
        return self

    def verdict(self, value: float) -> Literal["pass", "warn", "fail"]:
        if self.higher_is_better:
            return "fail" if value < self.fail else "warn" if value < self.warn else "pass"
        return "fail" if value > self.fail else "warn" if value > self.warn else "pass"


def _default_sop() -> dict[str, Threshold]:
    """Limits calibrated on 352 real dermoscopy images and degraded copies of them.

    See docs/sop-calibration.md (benchmarks/calibrate_sop.py reproduces every number).
    """
    return {
        "resolution_mp": Threshold(
            warn=1.0,
            fail=0.25,
            description="image size in megapixels (a phone with a dermatoscope gives 8-50)",
        ),
        "sharpness": Threshold(
            warn=0.6,
            fail=0.35,
            description="focus: share of the finest detail (Laplacian energy) that a 1-px "
            "re-blur removes, measured at ~1,000 px",
        ),
        "underexposure": Threshold(
            warn=0.4, fail=0.25, description="mean luminance inside the field of view (0-1)"
        ),
        "overexposure": Threshold(
            warn=0.82,
            fail=0.92,
            higher_is_better=False,
            description="mean luminance inside the field of view (0-1)",
        ),
        "clipped_fraction": Threshold(
            warn=0.15,
            fail=0.35,
            higher_is_better=False,
            description="fraction of field pixels blown out (a channel at 254-255) or black",
        ),
        "lesion_offset": Threshold(
            warn=0.35,
            fail=0.8,
            higher_is_better=False,
            description="lesion centre distance from the field centre, as a fraction of the "
            "field radius",
        ),
        "lesion_edge_contact": Threshold(
            warn=0.15,
            fail=0.5,
            higher_is_better=False,
            description="share of the lesion's outline on the edge of the field or frame "
            "(the SOP asks for the whole lesion with a rim of skin)",
        ),
        "colour_cast": Threshold(
            warn=0.04,
            fail=0.06,
            higher_is_better=False,
            description="chromaticity distance of the skin around the lesion from the line of "
            "natural skin tones (a cast, not a darker skin type)",
        ),
    }


class SOP(_Strict):
    """Acquisition SOP for mobile dermatoscopy."""

    image_type: str = "dermoscopic"
    dermoscopic_type: str | None = None
    checks: dict[str, Threshold] = Field(default_factory=_default_sop)
    #: a failed check excludes the image from a release unless a curator overrides it
    exclude_on_fail: bool = True


class CategorySpec(_Strict):
    code: str
    name: str
    isic_diagnosis: str
    malignancy: Literal["benign", "malignant", "indeterminate"]
    requires_histopathology: bool = False
    isic_prefixes: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)


def _default_categories() -> list[CategorySpec]:
    return [
        CategorySpec(
            code=c.code,
            name=c.name,
            isic_diagnosis=c.isic_diagnosis,
            malignancy=c.malignancy.value,
            requires_histopathology=c.requires_histopathology,
            isic_prefixes=list(c.isic_prefixes),
            aliases=list(c.aliases),
        )
        for c in DEFAULT_CATEGORIES
    ]


class Review(_Strict):
    reviewers: int = Field(default=3, ge=1, le=9)
    #: at least this many reviewers agreeing make a consensus; otherwise adjudication
    consensus_min_agree: int = Field(default=2, ge=1)
    confidence_scale: int = 5
    #: who decides when the reviewers disagree
    adjudicator_role: Literal["curator", "reviewer", "admin"] = "curator"

    @model_validator(mode="after")
    def _rule_possible(self) -> Review:
        if self.consensus_min_agree > self.reviewers:
            raise ValueError("consensus_min_agree cannot exceed the number of reviewers")
        return self


class StructureSpec(_Strict):
    code: str
    metaphoric: str
    descriptive: str
    isic2018_attribute: str | None = None


class Structures(_Strict):
    vocabulary: Literal["ids2016"] = "ids2016"
    #: study-specific additions to the IDS 2016 terms
    extra: list[StructureSpec] = Field(default_factory=list)


def _default_visibility() -> dict[str, list[str]]:
    return {role.value: [f.name for f in FIELDS if role in f.visible_to] for role in Role}


class Privacy(_Strict):
    #: ages are stored in ISIC's published form (clamped at 85, nearest 5 years)
    age: Literal["approx"] = "approx"
    #: capture dates are shifted per patient by up to this many days (0: no shift)
    date_shift_days: int = Field(default=365, ge=0, le=3650)


class Duplicates(_Strict):
    #: which image of a duplicate group stays
    keep: Literal["best_quality", "first_ingested"] = "best_quality"
    #: a second capture of the same lesion is linked to it, and kept or excluded
    second_capture: Literal["keep", "exclude"] = "keep"


class Protocol(_Strict):
    """A study protocol (``dermset.toml``)."""

    name: str = "dermoscopy-verification"
    version: str = "1.0"
    description: str = (
        "Defaults of the clinically verified dermoscopy dataset method (arXiv:2605.25168)."
    )
    sop: SOP = Field(default_factory=SOP)
    categories: list[CategorySpec] = Field(default_factory=_default_categories)
    review: Review = Field(default_factory=Review)
    structures: Structures = Field(default_factory=Structures)
    visibility: dict[str, list[str]] = Field(default_factory=_default_visibility)
    privacy: Privacy = Field(default_factory=Privacy)
    duplicates: Duplicates = Field(default_factory=Duplicates)

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        codes = [c.code for c in self.categories]
        if len(set(codes)) != len(codes):
            raise ValueError(f"category codes must be unique: {codes}")
        if not codes:
            raise ValueError("the taxonomy needs at least one category")
        for role, names in self.visibility.items():
            if role not in {r.value for r in Role}:
                raise ValueError(f"visibility: unknown role {role!r}")
            unknown = sorted(set(names) - set(FIELD_NAMES))
            if unknown:
                raise ValueError(f"visibility.{role}: unknown fields {unknown}")
        for c in self.categories:
            if c.requires_histopathology and c.malignancy != "malignant":
                continue  # allowed: a study may demand histology for indeterminate lesions
        return self

    # -- derived views ------------------------------------------------------------------
    def taxonomy(self) -> Taxonomy:
        return Taxonomy.from_dicts(c.model_dump() for c in self.categories)

    def structure_vocabulary(self) -> StructureVocabulary:
        extra = tuple(Structure(**s.model_dump()) for s in self.structures.extra)
        return StructureVocabulary(IDS_2016_STRUCTURES + extra)

    def visible_fields(self, role: Role | str) -> set[str]:
        return set(self.visibility.get(Role(role).value, []))

    # -- text ---------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, text: str, source: str = PROTOCOL_FILE) -> Protocol:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProtocolError(f"{source}: not valid TOML: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise ProtocolError(f"{source}: invalid protocol\n" + "\n".join(lines)) from None

    def to_toml(self) -> str:
        return render_toml(self.model_dump(mode="json", exclude_none=True))


_SECTION_COMMENTS = {
    "sop": "Acquisition SOP: each check has a warn and a fail limit (docs/sop-calibration.md).",
    "categories": "Diagnostic taxonomy: nine categories mapped into the ISIC diagnosis hierarchy.",
    "review": "Stage 2: blinded specialist review and the consensus rule.",
    "structures": "Dermoscopic structures: IDS 2016 terminology consensus, plus study additions.",
    "visibility": "Which information-model fields each role may see.",
    "privacy": "De-identification rules.",
    "duplicates": "Duplicate and second-capture policy.",
}


def render_toml(data: dict[str, Any]) -> str:
    """Render the protocol as commented TOML a curator can edit."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("dermset study protocol. Edit with care: bump `version` on change."))
    doc.add(tomlkit.nl())
    for key, value in data.items():
        if key in _SECTION_COMMENTS:
            doc.add(tomlkit.nl())
            doc.add(tomlkit.comment(_SECTION_COMMENTS[key]))
        if key == "categories":
            aot = tomlkit.aot()
            for cat in value:
                aot.append(tomlkit.item(cat))
            doc.add(key, aot)
        else:
            doc.add(key, tomlkit.item(value))
    return tomlkit.dumps(doc)
