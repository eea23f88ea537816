"""One designer per diagnostic category: outline, colours and structures of a new lesion.

Each designer draws the lesion's variant and its structures with probabilities that keep the
classes apart on average but let them overlap (light melanomas, dark nevi, brown keratoses), so
that a model trained on the images learns something without learning everything. The structure
codes are those of the IDS 2016 vocabulary (``dermset.model.structures``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dermset.synthetic.lesions import Layer, LesionDesign
from dermset.synthetic.shapes import (
    BLACK,
    BLUE_GREY,
    BLUE_WHITE,
    BROWN,
    CRUST,
    DARK_BROWN,
    DARK_RED,
    KERATIN,
    LIGHT_BROWN,
    PINK,
    PURPLE,
    RED,
    TAN,
    WHITE,
    jitter,
    mix,
    random_shape,
)
from dermset.synthetic.texture import RGB


class _Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.layers: list[Layer] = []
        self.structures: list[str] = []

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def add(self, layer_kind: str, structure: str | None = None, /, **params) -> None:
        self.layers.append(Layer(layer_kind, int(self.rng.integers(1 << 31)), params, structure))
        if structure and structure not in self.structures:
            self.structures.append(structure)

    def offset_shape(self, irregularity, jagged, softness, dist, scale):
        ang = self.u(-np.pi, np.pi)
        return random_shape(
            self.rng, irregularity, jagged, softness, dist * np.cos(ang), dist * np.sin(ang), scale
        )

    def design(self, category, variant, body, c0, c1, mottle, tint=None, extent=1.3):
        return LesionDesign(
            category=category,
            variant=variant,
            body=body,
            centre_factor=jitter(self.rng, c0),
            edge_factor=jitter(self.rng, c1),
            mottle=mottle,
            layers=tuple(self.layers),
            structures=tuple(self.structures),
            seed=int(self.rng.integers(1 << 31)),
            tint=tint,
            extent=extent,
        )


def _nevus(b: _Builder) -> LesionDesign:
    variant = str(
        b.rng.choice(
            ["reticular", "globular", "homogeneous", "reticular-globular"], p=[0.5, 0.2, 0.15, 0.15]
        )
    )
    shade = b.u(0.0, 1.0)
    body = random_shape(b.rng, b.u(0.03, 0.10), 0.0, b.u(0.08, 0.22))
    net_colour = jitter(b.rng, mix(BROWN, DARK_BROWN, shade))
    if variant in ("reticular", "reticular-globular"):
        b.add(
            "network",
            "pigment_network",
            factor=net_colour,
            cell_mm=b.u(0.24, 0.38),
            width=b.u(0.22, 0.35),
            strength=b.u(0.45, 0.85),
            ring=(0.0, 1.0),
        )
    if variant in ("globular", "reticular-globular"):
        b.add(
            "clods",
            "globules",
            colours=[net_colour, jitter(b.rng, BROWN)],
            multiply=True,
            n=int(b.u(25, 90)),
            size_mm=(0.07, 0.14),
            r_max=0.85 if variant == "globular" else 0.45,
            strength=b.u(0.6, 0.9),
        )
    if b.chance(0.2):
        b.add(
            "area",
            "blotch",
            shape=b.offset_shape(0.08, 0.0, 0.5, b.u(0.0, 0.1), b.u(0.25, 0.45)),
            factor=jitter(b.rng, BROWN),
            strength=b.u(0.3, 0.6),
            mottle=0.3,
        )
    c0 = mix(LIGHT_BROWN, BROWN, shade)
    c1 = mix(TAN, LIGHT_BROWN, shade)
    return b.design("NV", variant, body, c0, c1, b.u(0.1, 0.3))


def _melanoma(b: _Builder) -> LesionDesign:
    variant = "in situ" if b.chance(0.35) else "invasive"
    heavy = 1.0 if variant == "invasive" else 0.5
    body = random_shape(b.rng, b.u(0.16, 0.32), b.u(0.01, 0.03), b.u(0.03, 0.1))
    if b.chance(0.75):
        b.add(
            "network",
            "atypical_network",
            factor=jitter(b.rng, DARK_BROWN),
            cell_mm=b.u(0.26, 0.42),
            width=b.u(0.35, 0.55),
            strength=b.u(0.6, 0.9),
            thick_var=1.5,
            patchy=True,
        )
    if b.chance(0.75 * heavy + 0.2):
        b.add(
            "area",
            "blotch",
            shape=b.offset_shape(0.3, 0.02, 0.15, b.u(0.15, 0.4), b.u(0.3, 0.5)),
            factor=jitter(b.rng, BLACK if b.chance(0.6) else DARK_BROWN),
            mottle=0.45,
            strength=b.u(0.7, 0.95),
        )
    if b.chance(0.55 * heavy):
        b.add(
            "area",
            "blue_white_veil",
            shape=b.offset_shape(0.25, 0.02, 0.45, b.u(0.1, 0.35), b.u(0.3, 0.55)),
            colour=jitter(b.rng, BLUE_WHITE, 0.03),
            mottle=0.6,
            strength=b.u(0.45, 0.7),
        )
    if b.chance(0.4):
        shape = b.offset_shape(0.3, 0.02, 0.35, b.u(0.2, 0.5), b.u(0.2, 0.4))
        b.add(
            "area", "regression", shape=shape, colour=(0.91, 0.87, 0.87), mottle=0.6, strength=0.6
        )
        b.add(
            "dots",
            "peppering",
            colour=BLUE_GREY,
            n=int(b.u(40, 90)),
            size_mm=(0.02, 0.045),
            r_min=0.0,
            r_max=0.95,
            strength=0.7,
        )
    if b.chance(0.45):
        b.add(
            "streaks",
            "streaks",
            n=int(b.u(7, 16)),
            angle=b.u(-np.pi, np.pi),
            spread=b.u(0.9, 2.4),
            width_mm=b.u(0.12, 0.2),
            factor=jitter(b.rng, DARK_BROWN),
            strength=0.8,
        )
    if b.chance(0.6):
        b.add(
            "dots",
            "globules",
            factor=jitter(b.rng, mix(BLACK, DARK_BROWN, b.u(0, 1))),
            n=int(b.u(10, 30)),
            size_mm=(0.03, 0.1),
            r_min=0.6,
            r_max=0.98,
            strength=b.u(0.5, 0.85),
        )
    if b.chance(0.3 * heavy):
        b.add(
            "vessels",
            "linear_irregular_vessels",
            kind="linear",
            n=int(b.u(3, 6)),
            width_mm=0.05,
            colour=jitter(b.rng, RED),
            strength=0.6,
        )
    if b.chance(0.2):
        b.add("shiny", "shiny_white_structures", n=int(b.u(15, 35)))
    light = b.chance(0.25)  # some melanomas are light and featureless: the hard ones
    c0 = LIGHT_BROWN if light else BROWN
    c1 = TAN if light else LIGHT_BROWN
    return b.design("MEL", variant, body, c0, c1, b.u(0.5, 0.9), extent=1.45)


def _pink_tint(b: _Builder, colour: RGB, lo: float, hi: float) -> tuple[RGB, float]:
    return (jitter(b.rng, colour, 0.04), b.u(lo, hi))


def _bcc(b: _Builder) -> LesionDesign:
    variant = "superficial" if b.chance(0.3) else "nodular"
    body = random_shape(b.rng, b.u(0.08, 0.18), 0.01, b.u(0.15, 0.3))
    if b.chance(0.9 if variant == "nodular" else 0.5):
        b.add(
            "vessels",
            "arborizing_vessels",
            kind="arborizing",
            n=int(b.u(2, 5)),
            width_mm=b.u(0.06, 0.1),
            colour=jitter(b.rng, RED, 0.04),
            strength=0.9,
        )
    else:
        b.add(
            "vessels",
            "linear_irregular_vessels",
            kind="linear",
            n=int(b.u(4, 8)),
            width_mm=0.04,
            colour=jitter(b.rng, RED, 0.04),
            strength=0.8,
        )
    if b.chance(0.5):
        b.add(
            "clods",
            "blue_gray_ovoid_nests",
            colours=[jitter(b.rng, BLUE_GREY)],
            n=int(b.u(2, 7)),
            size_mm=(0.3, 0.7),
            oval=0.6,
            blur_mm=0.15,
            strength=0.75,
        )
    if b.chance(0.4):
        b.add(
            "clods",
            "blue_gray_globules",
            colours=[jitter(b.rng, BLUE_GREY), (0.30, 0.33, 0.40)],
            n=int(b.u(8, 25)),
            size_mm=(0.06, 0.14),
            strength=0.8,
        )
    if b.chance(0.4):
        b.add(
            "area",
            "ulceration",
            shape=b.offset_shape(0.3, 0.03, 0.2, b.u(0.0, 0.3), b.u(0.12, 0.28)),
            colour=jitter(b.rng, CRUST if b.chance(0.5) else DARK_RED),
            mottle=0.5,
            strength=0.9,
        )
    if b.chance(0.35):
        b.add("shiny", "shiny_white_structures", n=int(b.u(15, 40)))
    tint = _pink_tint(b, mix(PINK, WHITE, 0.3), 0.3, 0.55)
    return b.design("BCC", variant, body, (0.95, 0.86, 0.86), (0.97, 0.92, 0.92), 0.3, tint)


def _scc(b: _Builder) -> LesionDesign:
    body = random_shape(b.rng, b.u(0.1, 0.2), 0.015, b.u(0.1, 0.2))
    if b.chance(0.85):
        b.add(
            "area",
            "scale",
            shape=b.offset_shape(0.2, 0.03, 0.3, b.u(0.0, 0.15), b.u(0.35, 0.6)),
            colour=jitter(b.rng, KERATIN, 0.04),
            mottle=0.6,
            strength=0.85,
        )
    if b.chance(0.7):
        b.add(
            "vessels",
            "glomerular_vessels",
            kind="glomerular",
            n=int(b.u(12, 30)),
            r_min=0.45,
            r_max=0.95,
            width_mm=b.u(0.05, 0.08),
            colour=jitter(b.rng, RED, 0.04),
        )
    if b.chance(0.35):
        b.add(
            "vessels",
            "hairpin_vessels",
            kind="hairpin",
            n=int(b.u(4, 10)),
            width_mm=0.05,
            colour=jitter(b.rng, RED, 0.04),
        )
    if b.chance(0.45):
        b.add(
            "clods",
            "ulceration",
            colours=[DARK_RED, CRUST],
            n=int(b.u(3, 8)),
            size_mm=(0.15, 0.35),
            oval=0.6,
            strength=0.85,
        )
    tint = _pink_tint(b, mix(PINK, RED, 0.2), 0.35, 0.5)
    return b.design("SCC", "invasive", body, (0.92, 0.84, 0.80), (0.95, 0.88, 0.86), 0.4, tint)


def _ak(b: _Builder) -> LesionDesign:
    body = random_shape(b.rng, b.u(0.12, 0.25), 0.0, b.u(0.3, 0.45))
    b.add(
        "network",
        "strawberry_pattern",
        factor=(0.86, 0.60, 0.60),
        cell_mm=b.u(0.35, 0.5),
        width=0.5,
        strength=b.u(0.5, 0.8),
    )
    b.add(
        "clods",
        None,
        colours=[(0.97, 0.93, 0.88)],
        n=int(b.u(20, 50)),
        size_mm=(0.07, 0.14),
        r_max=0.95,
        strength=0.85,
    )
    if b.chance(0.6):
        b.add(
            "area",
            "scale",
            shape=b.offset_shape(0.3, 0.05, 0.4, b.u(0.0, 0.3), b.u(0.3, 0.6)),
            colour=jitter(b.rng, KERATIN, 0.04),
            mottle=0.8,
            strength=0.55,
        )
    if b.chance(0.3):
        b.add(
            "vessels",
            "linear_irregular_vessels",
            kind="linear",
            n=int(b.u(3, 6)),
            width_mm=0.04,
            colour=RED,
            strength=0.6,
        )
    tint = _pink_tint(b, mix(RED, PINK, 0.55), 0.3, 0.5)
    return b.design("AK", "facial", body, (0.93, 0.85, 0.82), (0.96, 0.90, 0.88), 0.3, tint)


def _bkl(b: _Builder) -> LesionDesign:
    variant = str(
        b.rng.choice(
            ["seborrheic keratosis", "solar lentigo", "lichen planus-like keratosis"],
            p=[0.6, 0.3, 0.1],
        )
    )
    if variant == "seborrheic keratosis":
        shade = b.u(0.0, 1.0)
        body = random_shape(b.rng, b.u(0.08, 0.16), 0.02, b.u(0.02, 0.05))
        if b.chance(0.8):
            b.add(
                "clods",
                "milia_like_cysts",
                colours=[WHITE, (0.95, 0.92, 0.78)],
                n=int(b.u(5, 18)),
                size_mm=(0.08, 0.2),
                strength=0.85,
            )
        if b.chance(0.7):
            b.add(
                "clods",
                "comedo_like_openings",
                colours=[jitter(b.rng, BLACK), jitter(b.rng, (0.45, 0.35, 0.2))],
                multiply=True,
                n=int(b.u(5, 15)),
                size_mm=(0.12, 0.3),
                oval=0.55,
                strength=0.8,
            )
        if b.chance(0.6):
            b.add(
                "lines",
                "fissures_ridges",
                cell_mm=b.u(0.5, 0.8),
                stretch=2.5,
                width=0.28,
                factor=jitter(b.rng, DARK_BROWN),
                strength=0.7,
            )
        if b.chance(0.2):
            b.add("vessels", "hairpin_vessels", kind="hairpin", n=5, width_mm=0.05, colour=RED)
        c0, c1 = mix(LIGHT_BROWN, DARK_BROWN, shade), mix(TAN, BROWN, shade)
        return b.design("BKL", variant, body, c0, c1, b.u(0.4, 0.7))
    if variant == "solar lentigo":
        body = random_shape(b.rng, b.u(0.12, 0.2), b.u(0.05, 0.08), b.u(0.04, 0.08))
        b.structures.append("moth_eaten_border")
        if b.chance(0.5):
            b.add(
                "lines",
                "fingerprint_pattern",
                cell_mm=b.u(0.2, 0.3),
                stretch=4.0,
                width=0.3,
                factor=jitter(b.rng, BROWN),
                strength=0.5,
            )
        if b.chance(0.3):
            b.add(
                "network",
                "pigment_network",
                factor=jitter(b.rng, BROWN),
                cell_mm=0.3,
                width=0.25,
                strength=0.3,
            )
        return b.design("BKL", variant, body, LIGHT_BROWN, TAN, b.u(0.2, 0.4))
    body = random_shape(b.rng, b.u(0.1, 0.2), 0.01, b.u(0.12, 0.2))
    b.add(
        "dots",
        "peppering",
        colour=jitter(b.rng, BLUE_GREY),
        n=int(b.u(150, 300)),
        size_mm=(0.02, 0.05),
        r_min=0.0,
        r_max=0.95,
        strength=0.75,
    )
    tint = _pink_tint(b, PINK, 0.15, 0.3)
    return b.design("BKL", variant, body, (0.85, 0.76, 0.72), (0.92, 0.84, 0.80), 0.4, tint)


def _df(b: _Builder) -> LesionDesign:
    body = random_shape(b.rng, b.u(0.04, 0.1), 0.0, b.u(0.25, 0.4))
    b.add(
        "area",
        "central_white_patch",
        shape=b.offset_shape(0.2, 0.03, 0.3, b.u(0.0, 0.08), b.u(0.35, 0.55)),
        colour=(0.95, 0.91, 0.89),
        mottle=0.3,
        strength=b.u(0.6, 0.85),
    )
    b.add(
        "network",
        "pigment_network",
        factor=jitter(b.rng, BROWN),
        cell_mm=b.u(0.25, 0.35),
        width=0.3,
        strength=b.u(0.4, 0.7),
        ring=(0.5, 1.0),
    )
    if b.chance(0.3):
        b.add(
            "vessels",
            "dotted_vessels",
            kind="dotted",
            n=int(b.u(10, 25)),
            r_max=0.5,
            width_mm=0.05,
            colour=RED,
        )
    return b.design("DF", "typical", body, LIGHT_BROWN, TAN, 0.3)


def _vasc(b: _Builder) -> LesionDesign:
    body = random_shape(b.rng, b.u(0.06, 0.16), 0.01, b.u(0.04, 0.1))
    b.add(
        "clods",
        "red_lacunae",
        colours=[jitter(b.rng, RED, 0.04), DARK_RED, jitter(b.rng, PURPLE, 0.04)],
        n=int(b.u(18, 50)),
        size_mm=(0.2, 0.55),
        oval=0.7,
        r_max=0.92,
        strength=0.92,
    )
    if b.chance(0.2):
        b.add(
            "area",
            "blotch",
            shape=b.offset_shape(0.2, 0.02, 0.3, b.u(0.1, 0.3), b.u(0.2, 0.35)),
            factor=(0.25, 0.12, 0.18),
            strength=0.8,
        )
    tint = _pink_tint(b, mix(RED, PURPLE, b.u(0.0, 0.6)), 0.35, 0.6)
    return b.design("VASC", "haemangioma", body, (0.85, 0.75, 0.76), (0.9, 0.8, 0.8), 0.3, tint)


def _other(b: _Builder) -> LesionDesign:
    variant = str(b.rng.choice(["acanthoma-like", "tan macule", "scar"], p=[0.4, 0.35, 0.25]))
    if variant == "acanthoma-like":
        body = random_shape(b.rng, b.u(0.05, 0.12), 0.0, b.u(0.15, 0.25))
        b.add(
            "vessels",
            "dotted_vessels",
            kind="dotted",
            n=int(b.u(40, 90)),
            width_mm=0.05,
            colour=jitter(b.rng, RED, 0.04),
        )
        tint = _pink_tint(b, PINK, 0.25, 0.4)
        return b.design("OTHER", variant, body, (0.95, 0.88, 0.86), (0.97, 0.92, 0.9), 0.2, tint)
    if variant == "tan macule":
        body = random_shape(b.rng, b.u(0.1, 0.2), 0.02, b.u(0.1, 0.25))
        c0 = mix(TAN, LIGHT_BROWN, b.u(0.2, 0.6))
        return b.design("OTHER", variant, body, c0, mix(TAN, (1.0, 1.0, 1.0), 0.3), 0.3)
    body = random_shape(b.rng, b.u(0.15, 0.3), 0.01, b.u(0.2, 0.35))
    b.add(
        "area",
        "scale",
        shape=b.offset_shape(0.3, 0.03, 0.4, b.u(0.0, 0.3), b.u(0.3, 0.6)),
        colour=KERATIN,
        mottle=0.8,
        strength=0.4,
    )
    if b.chance(0.6):
        b.add(
            "vessels",
            "linear_irregular_vessels",
            kind="linear",
            n=int(b.u(3, 7)),
            width_mm=0.04,
            colour=jitter(b.rng, RED, 0.04),
            strength=0.7,
        )
    tint = _pink_tint(b, mix(PINK, WHITE, 0.35), 0.45, 0.7)
    return b.design("OTHER", variant, body, (0.95, 0.9, 0.88), (0.97, 0.93, 0.91), 0.3, tint)


DESIGNERS: dict[str, Callable[[_Builder], LesionDesign]] = {
    "NV": _nevus,
    "MEL": _melanoma,
    "BCC": _bcc,
    "SCC": _scc,
    "AK": _ak,
    "BKL": _bkl,
    "DF": _df,
    "VASC": _vasc,
    "OTHER": _other,
}


def design_lesion(category: str, rng: np.random.Generator) -> LesionDesign:
    """A new lesion of *category* (a code of the default taxonomy; others look like OTHER)."""
    designer = DESIGNERS.get(category, _other)
    design = designer(_Builder(rng))
    if design.category != category:
        design = LesionDesign(**{**design.__dict__, "category": category})
    return design
