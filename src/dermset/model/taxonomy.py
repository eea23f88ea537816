"""Diagnostic taxonomy: categories, their place in the ISIC diagnosis hierarchy, and aliases.

The default taxonomy has the nine categories of the study. We follow the ISIC 2019 challenge
grouping for the keratoses: seborrheic keratosis, solar lentigo and lichen-planus-like keratosis
form one category, *benign keratosis* (BKL), exactly as HAM10000's ``bkl`` and ISIC 2019's ``BKL``
do. That lets HAM10000 import without guessing and lets ISIC 2019 models be evaluated without a
remapping; the ninth category, *other benign*, takes every benign lesion outside the other eight.
The protocol file may replace this taxonomy wholesale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from dermset.model.vocabularies import BenignMalignant


@dataclass(frozen=True)
class Category:
    """One diagnostic category of a taxonomy."""

    code: str  # short, stable: "MEL"
    name: str  # what a clinician reads: "melanoma"
    isic_diagnosis: str  # the fully qualified ISIC diagnosis term it maps to
    malignancy: BenignMalignant
    requires_histopathology: bool = False
    #: ISIC hierarchy prefixes that fall into this category (more specific ISIC terms).
    isic_prefixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def is_malignant(self) -> bool:
        return self.malignancy is BenignMalignant.malignant


_MEL = "Malignant:Malignant melanocytic proliferations (Melanoma)"
_BCC = "Malignant:Malignant adnexal epithelial proliferations - Follicular:Basal cell carcinoma"
_SCC = "Malignant:Malignant epidermal proliferations"
_AK = "Indeterminate:Indeterminate epidermal proliferations:Solar or actinic keratosis"
_BKL = "Benign:Benign epidermal proliferations"
_NV = "Benign:Benign melanocytic proliferations:Nevus"
_DF = "Benign:Benign soft tissue proliferations - Fibro-histiocytic:Dermatofibroma"
_VASC = "Benign:Benign soft tissue proliferations - Vascular"
_OTHER = "Benign:Benign - Other"

DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(
        "MEL",
        "melanoma",
        _MEL,
        BenignMalignant.malignant,
        True,
        isic_prefixes=(_MEL,),
        aliases=(
            "melanoma",
            "mel",
            "MEL",
            "melanoma in situ",
            "Melanoma, NOS",
            "Melanoma Invasive",
            "Melanoma in situ",
            "melanoma (in situ)",
            "melanoma (less than 0.76 mm)",
            "melanoma (0.76 to 1.5 mm)",
            "melanoma (more than 1.5 mm)",
            "melanoma metastasis",
            "Melanoma metastasis",
        ),
    ),
    Category(
        "BCC",
        "basal cell carcinoma",
        _BCC,
        BenignMalignant.malignant,
        True,
        isic_prefixes=(_BCC,),
        aliases=("basal cell carcinoma", "bcc", "BCC", "Basal cell carcinoma"),
    ),
    Category(
        "SCC",
        "squamous cell carcinoma",
        _SCC + ":Squamous cell carcinoma, NOS",
        BenignMalignant.malignant,
        True,
        isic_prefixes=(
            _SCC + ":Squamous cell carcinoma, NOS",
            _SCC + ":Squamous cell carcinoma, Invasive",
            _SCC + ":Squamous cell carcinoma in situ",
        ),
        aliases=(
            "squamous cell carcinoma",
            "scc",
            "SCC",
            "Squamous cell carcinoma, NOS",
            "Squamous cell carcinoma, Invasive",
            "Squamous cell carcinoma in situ",
            "intraepithelial carcinoma",
        ),
    ),
    Category(
        "AK",
        "actinic keratosis",
        _AK,
        BenignMalignant.indeterminate,
        isic_prefixes=(_AK,),
        aliases=("actinic keratosis", "ak", "AK", "ACK", "akiec", "Solar or actinic keratosis"),
    ),
    Category(
        "BKL",
        "benign keratosis",
        _BKL,
        BenignMalignant.benign,
        isic_prefixes=(_BKL,),
        aliases=(
            "benign keratosis",
            "bkl",
            "BKL",
            "seborrheic keratosis",
            "SEK",
            "Seborrheic keratosis",
            "solar lentigo",
            "Solar lentigo",
            "lichenoid keratosis",
            "Lichen planus like keratosis",
            "pigmented benign keratosis",
            "Pigmented benign keratosis",
            "lentigo NOS",
        ),
    ),
    Category(
        "NV",
        "nevus",
        _NV,
        BenignMalignant.benign,
        isic_prefixes=("Benign:Benign melanocytic proliferations",),
        aliases=(
            "nevus",
            "nv",
            "NV",
            "NEV",
            "Nevus",
            "blue nevus",
            "clark nevus",
            "combined nevus",
            "congenital nevus",
            "dermal nevus",
            "recurrent nevus",
            "reed or spitz nevus",
            "lentigo simplex",
            "Lentigo simplex",
        ),
    ),
    Category(
        "DF",
        "dermatofibroma",
        _DF,
        BenignMalignant.benign,
        isic_prefixes=(_DF,),
        aliases=("dermatofibroma", "df", "DF", "Dermatofibroma"),
    ),
    Category(
        "VASC",
        "vascular lesion",
        _VASC,
        BenignMalignant.benign,
        isic_prefixes=(_VASC,),
        aliases=(
            "vascular lesion",
            "vasc",
            "VASC",
            "Hemangioma",
            "angioma",
            "angiokeratoma",
            "pyogenic granuloma",
            "Pyogenic granuloma",
            "vascular lesion (ISIC)",
        ),
    ),
    Category(
        "OTHER",
        "other benign",
        _OTHER,
        BenignMalignant.benign,
        isic_prefixes=("Benign",),
        aliases=("other benign", "other", "OTHER", "miscellaneous", "Benign - Other",
                 # legacy ISIC Archive terms of benign lesions outside the other eight
                 "cafe-au-lait macule", "ephelis", "scar", "verruca", "acrochordon",
                 "angiofibroma or fibrous papule", "neurofibroma", "sebaceous hyperplasia",
                 "clear cell acanthoma", "mucosal melanosis", "nevus spilus", "epidermal nevus",
                 "melanosis"),
    ),
)


@cache
def _isic_terminals() -> dict[str, str]:
    """ISIC's hierarchical diagnoses by their last term, case-insensitively ("Solar lentigo")."""
    from isic_metadata.diagnosis_hierarchical import DiagnosisEnum

    out: dict[str, str] = {}
    for member in sorted(DiagnosisEnum, key=lambda m: m.value.count(":")):
        out.setdefault(member.value.rsplit(":", 1)[-1].casefold(), member.value)
    return out


class UnknownDiagnosis(ValueError):
    """A diagnosis term that is neither a category code, a name, nor a known alias."""


@dataclass
class Taxonomy:
    """The categories of a study and the index that resolves any accepted spelling to one."""

    categories: tuple[Category, ...]
    _index: dict[str, Category] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {}
        for cat in self.categories:
            for term in (cat.code, cat.name, cat.isic_diagnosis, *cat.aliases):
                self._index.setdefault(term, cat)
                self._index.setdefault(term.casefold(), cat)

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @property
    def malignant_codes(self) -> set[str]:
        return {c.code for c in self.categories if c.is_malignant}

    @property
    def histopathology_codes(self) -> set[str]:
        return {c.code for c in self.categories if c.requires_histopathology}

    def __getitem__(self, code: str) -> Category:
        for cat in self.categories:
            if cat.code == code:
                return cat
        raise KeyError(code)

    def resolve(self, term: str) -> Category:
        """Map a term (code, name, alias, or any ISIC hierarchy term) to its category.

        Exact spellings win over case-insensitive ones; a fully qualified ISIC term that is not
        listed resolves by its longest matching ISIC prefix, so "Benign:...:Nevus:Blue nevus"
        lands in NV.
        """
        text = term.strip()
        if not text:
            raise UnknownDiagnosis("empty diagnosis")
        hit = self._index.get(text) or self._index.get(text.casefold())
        if hit is not None:
            return hit
        if ":" not in text:
            text = _isic_terminals().get(text.casefold(), text)
        if ":" in text:
            best: Category | None = None
            best_len = -1
            for cat in self.categories:
                for prefix in cat.isic_prefixes:
                    if (text == prefix or text.startswith(prefix + ":")) and len(prefix) > best_len:
                        best, best_len = cat, len(prefix)
            if best is not None:
                return best
        raise UnknownDiagnosis(
            f"unknown diagnosis {term!r}; expected one of {', '.join(self.codes)} or an alias"
        )

    @classmethod
    def default(cls) -> Taxonomy:
        return cls(DEFAULT_CATEGORIES)

    @classmethod
    def from_dicts(cls, rows: Iterable[Mapping[str, object]]) -> Taxonomy:
        cats = []
        for row in rows:
            cats.append(
                Category(
                    code=str(row["code"]),
                    name=str(row["name"]),
                    isic_diagnosis=str(row["isic_diagnosis"]),
                    malignancy=BenignMalignant(str(row["malignancy"])),
                    requires_histopathology=bool(row.get("requires_histopathology", False)),
                    isic_prefixes=tuple(row.get("isic_prefixes", ()) or ()),  # type: ignore[arg-type]
                    aliases=tuple(row.get("aliases", ()) or ()),  # type: ignore[arg-type]
                )
            )
        return cls(tuple(cats))
