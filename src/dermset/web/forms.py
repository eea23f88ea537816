"""How the protocol's fields and vocabularies appear on the forms (labels, choices, help).

Only presentation: which fields exist, their vocabularies and the taxonomy come from the
information model and the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dermset.model.fields import FIELD_BY_NAME
from dermset.protocol import Protocol
from dermset.verification.context import taxonomy, vocabulary

LABELS = {
    "patient_id": ("Patient ID", "your clinic's number; dermset keeps only a keyed pseudonym"),
    "lesion_id": ("Lesion", "the same label for every photograph of this lesion, e.g. L1"),
    "age": ("Age", "years; stored rounded to 5 years"),
    "sex": ("Sex", ""),
    "fitzpatrick_skin_type": ("Skin type", "Fitzpatrick I–VI"),
    "anatom_site_general": ("Body site", ""),
    "clin_size_long_diam_mm": ("Size", "longest diameter in mm"),
    "image_type": ("Image type", ""),
    "dermoscopic_type": ("Dermoscopy mode", ""),
}
GROUPS = (
    ("Patient", ("patient_id", "age", "sex", "fitzpatrick_skin_type")),
    ("Lesion", ("lesion_id", "anatom_site_general", "clin_size_long_diam_mm")),
    ("Capture", ("image_type", "dermoscopic_type")),
)
#: how the IDS 2016 descriptive names begin, for grouping the structures checklist
STRUCTURE_GROUPS = (
    ("Lines and networks", ("lines", "reticular", "radial", "border")),
    ("Dots and clods", ("dots", "clods", "four white")),
    ("Structureless areas", ("structureless",)),
    ("Vessels", ("vessels",)),
)


@dataclass
class FormField:
    name: str
    label: str
    help: str
    kind: str  # text | number | select
    choices: list[str] = field(default_factory=list)
    default: str = ""
    step: str = ""


def capture_form(protocol: Protocol, names: list[str]) -> list[tuple[str, list[FormField]]]:
    """The capture form's fields in groups (only those the protocol lets a clinician see)."""
    sop_defaults = {
        "image_type": protocol.sop.image_type or "",
        "dermoscopic_type": protocol.sop.dermoscopic_type or "",
    }
    out = []
    for title, members in GROUPS:
        fields = []
        for name in members:
            if name not in names:
                continue
            label, help_text = LABELS[name]
            spec = FIELD_BY_NAME.get("age_approx" if name == "age" else name)
            if spec is not None and spec.vocabulary:
                fields.append(
                    FormField(
                        name,
                        label,
                        help_text,
                        "select",
                        list(spec.vocabulary),
                        sop_defaults.get(name, ""),
                    )
                )
            elif name in ("age", "clin_size_long_diam_mm"):
                step = "1" if name == "age" else "0.1"
                fields.append(FormField(name, label, help_text, "number", step=step))
            else:
                fields.append(FormField(name, label, help_text, "text"))
        if fields:
            out.append((title, fields))
    return out


def diagnoses(protocol: Protocol) -> list[dict[str, str]]:
    """The taxonomy's categories, in protocol order, with a keyboard number each."""
    return [
        {
            "code": c.code,
            "name": c.name,
            "malignancy": str(getattr(c.malignancy, "value", c.malignancy)),
            "key": str(i + 1) if i < 9 else "",
        }
        for i, c in enumerate(taxonomy(protocol).categories)
    ]


def structure_groups(protocol: Protocol) -> list[tuple[str, list[dict[str, str]]]]:
    """The structures vocabulary, grouped the way the IDS 2016 consensus describes them."""
    groups: dict[str, list[dict[str, str]]] = {title: [] for title, _ in STRUCTURE_GROUPS}
    groups["Other"] = []
    for s in vocabulary(protocol).structures:
        desc = s.descriptive.lower()
        title = next(
            (t for t, starts in STRUCTURE_GROUPS if desc.startswith(starts)),
            "Other",
        )
        groups[title].append({"code": s.code, "name": s.metaphoric, "descriptive": s.descriptive})
    return [(t, items) for t, items in groups.items() if items]
