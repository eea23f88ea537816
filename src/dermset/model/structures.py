"""Dermoscopic structures: the 2016 International Dermoscopy Society terminology consensus.

Kittler H, Marghoob AA, Argenziano G, et al. "Standardization of terminology in dermoscopy/
dermatoscopy: results of the third consensus conference of the International Society of
Dermoscopy." J Am Acad Dermatol 2016;74(6):1093-1106. Each term keeps the metaphoric name
clinicians say and the descriptive name of the consensus; the five attributes of the ISIC 2018
challenge (task 2) are mapped onto the terms they annotate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Structure:
    code: str  # stable, snake_case
    metaphoric: str
    descriptive: str
    isic2018_attribute: str | None = None


IDS_2016_STRUCTURES: tuple[Structure, ...] = (
    Structure("pigment_network", "pigment network", "reticular lines", "pigment_network"),
    Structure(
        "atypical_network", "atypical pigment network", "reticular lines, thickened and irregular"
    ),
    Structure(
        "negative_network",
        "negative network",
        "reticular lines, hypopigmented (serpiginous)",
        "negative_network",
    ),
    Structure(
        "streaks", "streaks / pseudopods", "radial lines, segmental, at the periphery", "streaks"
    ),
    Structure("dots", "dots", "dots", "globules"),
    Structure("globules", "globules", "clods, small, round or oval", "globules"),
    Structure("blotch", "blotch", "structureless area, dark, of pigment"),
    Structure("blue_white_veil", "blue-white veil", "structureless area, blue, over a raised part"),
    Structure(
        "regression", "regression structures", "structureless white scar-like area / granules"
    ),
    Structure("peppering", "peppering / granularity", "dots, grey, in clusters"),
    Structure(
        "shiny_white_structures",
        "shiny white structures (chrysalis)",
        "lines, white, short, orthogonal (polarised only)",
    ),
    Structure(
        "milia_like_cysts", "milia-like cysts", "clods, white or yellow, round", "milia_like_cyst"
    ),
    Structure("comedo_like_openings", "comedo-like openings", "clods, brown, yellow or orange"),
    Structure("fissures_ridges", "fissures and ridges (brain-like)", "lines, curved, thick"),
    Structure("moth_eaten_border", "moth-eaten border", "border, concave"),
    Structure("fingerprint_pattern", "fingerprint pattern", "lines, parallel, thin, brown"),
    Structure("leaf_like_areas", "leaf-like areas", "lines, radial, converging to a clod, blue"),
    Structure("spoke_wheel_areas", "spoke-wheel areas", "lines, radial, around a central dot"),
    Structure("blue_gray_ovoid_nests", "large blue-grey ovoid nests", "clods, large, blue-grey"),
    Structure(
        "blue_gray_globules", "multiple blue-grey globules", "clods, small, blue-grey, multiple"
    ),
    Structure("ulceration", "ulceration", "structureless area, red-black or orange (crust)"),
    Structure("arborizing_vessels", "arborizing vessels", "vessels, serpentine, branched"),
    Structure("dotted_vessels", "dotted vessels", "vessels, dots"),
    Structure("glomerular_vessels", "glomerular vessels", "vessels, coiled, clustered"),
    Structure("hairpin_vessels", "hairpin vessels", "vessels, looped"),
    Structure("linear_irregular_vessels", "linear irregular vessels", "vessels, linear, irregular"),
    Structure("comma_vessels", "comma vessels", "vessels, curved"),
    Structure("polymorphous_vessels", "polymorphous vessels", "vessels, more than one kind"),
    Structure("central_white_patch", "central white patch", "structureless area, white, central"),
    Structure(
        "strawberry_pattern",
        "strawberry pattern",
        "structureless red with white follicular openings",
    ),
    Structure("rosettes", "rosettes", "four white dots in a square (polarised only)"),
    Structure("red_lacunae", "red-purple lacunae", "clods, red or purple, sharply demarcated"),
    Structure("scale", "scale", "structureless area, white or yellow, keratin"),
    Structure(
        "annular_granular_pattern",
        "annular-granular pattern",
        "dots, grey, around follicular openings",
    ),
    Structure(
        "rhomboidal_structures", "rhomboidal structures", "lines, angulated, around follicles"
    ),
    Structure("parallel_ridge_pattern", "parallel ridge pattern", "lines, parallel, on the ridges"),
    Structure(
        "parallel_furrow_pattern", "parallel furrow pattern", "lines, parallel, in the furrows"
    ),
)

#: ISIC 2018 task-2 attribute name → our structure codes that it annotates.
ISIC2018_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "pigment_network": ("pigment_network",),
    "negative_network": ("negative_network",),
    "streaks": ("streaks",),
    "milia_like_cyst": ("milia_like_cysts",),
    "globules": ("globules", "dots"),
}


class UnknownStructure(ValueError):
    """A structure term outside the protocol's vocabulary."""


class StructureVocabulary:
    """Resolves codes, metaphoric and descriptive names (case-insensitively) to structure codes."""

    def __init__(self, structures: tuple[Structure, ...] = IDS_2016_STRUCTURES) -> None:
        self.structures = structures
        self._index: dict[str, str] = {}
        for s in structures:
            for term in (s.code, s.metaphoric, s.descriptive, s.code.replace("_", " ")):
                self._index.setdefault(term.casefold(), s.code)
        for attribute, codes in ISIC2018_ATTRIBUTES.items():
            if codes[0] in {s.code for s in structures}:
                self._index.setdefault(attribute.casefold(), codes[0])

    @property
    def codes(self) -> list[str]:
        return [s.code for s in self.structures]

    def resolve(self, term: str) -> str:
        code = self._index.get(term.strip().casefold())
        if code is None:
            raise UnknownStructure(f"unknown dermoscopic structure {term!r}")
        return code

    def parse_list(self, text: str | None) -> list[str]:
        """Parse a semicolon-separated list of terms into sorted, unique codes."""
        if not text or not text.strip():
            return []
        return sorted({self.resolve(t) for t in text.split(";") if t.strip()})
