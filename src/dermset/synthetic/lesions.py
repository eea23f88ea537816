"""What a lesion of each diagnostic category looks like under the dermatoscope (a cartoon).

A ``LesionDesign`` is drawn once per lesion from the lesion's own seed: outline, colours and the
dermoscopic structures of its category, named with the IDS 2016 codes of
``dermset.model.structures`` so the structures can serve as ground truth. ``render_patch`` paints
it, already turned by the capture's rotation, into maps the image renderer lays onto the skin:
a multiplicative pigment factor (pigment absorbs light, so a lesion on darker skin is darker), a
premultiplied over-colour with its coverage (white, blue-grey, red structures that sit on top),
the lesion body (the mask) and one mask per structure. The painters themselves are in
``layers``; outlines and the palette in ``shapes``.

A second capture re-renders the same design with a different capture seed: the outline and the
structures stay, the fine pattern moves a little — a new photograph, not a copy.

The looks follow textbook dermoscopy, simplified: reticular nevi have a regular network fading
to the periphery; melanomas are asymmetric with several colours, eccentric blotches, blue-white
veil, regression and peripheral streaks; BCCs are pink with arborizing vessels and blue-grey
ovoid nests; SCCs carry central keratin with glomerular vessels; actinic keratoses show the
red "strawberry" pseudo-network around white follicles; seborrheic keratoses are sharply
demarcated with milia-like cysts, comedo-like openings and fissures; dermatofibromas a central
white patch in a delicate ring of network; vascular lesions red-purple lacunae.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dermset.synthetic.layers import PAINTERS
from dermset.synthetic.shapes import THETA_STEPS, Shape
from dermset.synthetic.texture import RGB, Canvas, perturbed_noise, smoothstep

STRUCTURE_VISIBLE = 0.25  # a structure's mask: where its layer covers at least this much
Box = tuple[slice, slice]
ALL: Box = (slice(None), slice(None))


@dataclass(frozen=True)
class Layer:
    kind: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    structure: str | None = None  # the IDS 2016 code this layer draws, if any


@dataclass(frozen=True)
class LesionDesign:
    """Everything that stays the same between two photographs of one lesion."""

    category: str
    variant: str
    body: Shape
    centre_factor: RGB
    edge_factor: RGB
    mottle: float
    layers: tuple[Layer, ...]
    structures: tuple[str, ...]
    seed: int = 0  # owns the body's colour mottling
    tint: tuple[RGB, float] | None = None  # a colour laid over the whole body (pink lesions)
    extent: float = 1.3  # patch half-size in lesion radii (room for streaks)


@dataclass
class PatchMaps:
    """The lesion in local pixels, ready to be warped onto the skin."""

    factor: np.ndarray  # 3xHxW multiplicative, 1 = no change
    colour: np.ndarray  # 3xHxW premultiplied over-colour
    cover: np.ndarray  # HxW coverage of the over-colour
    body: np.ndarray  # HxW lesion body 0..1 (the mask)
    structures: dict[str, np.ndarray] = field(default_factory=dict)  # code -> HxW bool


class _Painter:
    """Holds the patch maps and paints layers into them."""

    def __init__(self, design: LesionDesign, radius_px: float, px_per_mm: float, rng, angle):
        self.d = design
        self.R = float(radius_px)
        self.px_per_mm = px_per_mm
        self.rng = rng  # capture randomness: the fine pattern of this photograph
        # The patch is painted already turned by the capture's rotation (lesion coordinates are
        # rotated pixel coordinates): warping a painted patch would cost two resamplings of it.
        self.cos, self.sin = float(np.cos(angle)), float(np.sin(angle))
        extent = max(design.extent, 1.0 + design.body.softness * 1.1 + 0.06)
        self.P = int(2 * np.ceil(radius_px * extent))
        coords = (np.arange(self.P, dtype=np.float32) - self.P / 2 + 0.5) / self.R
        gx, gy = np.meshgrid(coords, coords)
        self.x = gx * self.cos + gy * self.sin
        self.y = gy * self.cos - gx * self.sin
        # planar (3, P, P): per-plane products are much cheaper than broadcasting over RGB
        self.factor = np.ones((3, self.P, self.P), np.float32)
        self.colour = np.zeros((3, self.P, self.P), np.float32)
        self.cover = np.zeros((self.P, self.P), np.float32)
        self.structure: str | None = None
        self.structures: dict[str, np.ndarray] = {}
        self.rho = design.body.rho(self.x, self.y)
        s = design.body.softness
        self.body = smoothstep(1.0 + s, 1.0 - s, self.rho)

    # -- primitives ----------------------------------------------------------------------
    def note(self, alpha: np.ndarray, box: Box) -> None:
        """Remember where the current layer's structure is visible (its ground-truth mask)."""
        if self.structure is not None:
            where = self.structures.get(self.structure)
            if where is None:
                where = self.structures[self.structure] = np.zeros((self.P, self.P), bool)
            where[box] |= alpha > STRUCTURE_VISIBLE

    def multiply(self, alpha: np.ndarray, factor: RGB, box: Box = ALL) -> None:
        self.note(alpha, box)
        ys, xs = box
        for c in range(3):
            if factor[c] != 1.0:
                self.factor[c, ys, xs] *= 1.0 + alpha * (factor[c] - 1.0)

    def over(self, alpha: np.ndarray, colour: RGB, box: Box = ALL) -> None:
        self.note(alpha, box)
        ys, xs = box
        keep = 1.0 - alpha
        for c in range(3):
            plane = self.colour[c, ys, xs]
            plane *= keep
            plane += alpha * colour[c]
        cover = self.cover[ys, xs]
        cover += alpha * (1.0 - cover)

    def box(self, shape: Shape) -> Box:
        """The pixels a sub-shape can touch: painting only there keeps small areas cheap."""
        half = shape.scale * (1.0 + shape.softness) * self.R + 2
        cx, cy = self.px(shape.cx, shape.cy)
        return (
            slice(max(0, int(cy - half)), min(self.P, int(cy + half) + 1)),
            slice(max(0, int(cx - half)), min(self.P, int(cx + half) + 1)),
        )

    def px(self, u: float, v: float) -> tuple[float, float]:
        """Patch pixel of a point given in lesion units."""
        return (
            self.P / 2 + (u * self.cos - v * self.sin) * self.R,
            self.P / 2 + (u * self.sin + v * self.cos) * self.R,
        )

    def mm(self, value: float) -> float:
        return value * self.px_per_mm

    def canvas(self) -> Canvas:
        return Canvas(self.P, self.P)

    def noise(self, layer_rng: np.random.Generator, cell_px: float, wobble: float) -> np.ndarray:
        """A pattern owned by the lesion (layer seed), moved slightly by this capture."""
        n = max(2, int(np.ceil(self.P / max(cell_px, 1.0))) + 1)
        grid = layer_rng.standard_normal((n, n)).astype(np.float32)
        return perturbed_noise(grid, self.rng, wobble, self.P, self.P)

    def points_in(
        self, rng: np.random.Generator, n: int, r_min: float, r_max: float, shape: Shape | None
    ) -> list[tuple[float, float]]:
        """Random points whose normalised radius (w.r.t. *shape* or the body) is in a range."""
        shape = shape or self.d.body
        table = shape.radius_table()
        pts = []
        for _ in range(n * 4):
            if len(pts) >= n:
                break
            t = rng.uniform(-np.pi, np.pi)
            rad = table[int((t + np.pi) * THETA_STEPS / (2 * np.pi)) % THETA_STEPS]
            r = np.sqrt(rng.uniform(r_min**2, r_max**2)) * rad * shape.scale
            pts.append((shape.cx + r * np.cos(t), shape.cy + r * np.sin(t)))
        return pts


# -- layers ------------------------------------------------------------------------------------


def render_patch(
    design: LesionDesign,
    radius_px: float,
    px_per_mm: float,
    capture_rng: np.random.Generator,
    angle_deg: float = 0.0,
) -> PatchMaps:
    """Paint a design at a given size and rotation; the capture rng moves only fine pattern."""
    p = _Painter(design, radius_px, px_per_mm, capture_rng, np.deg2rad(angle_deg))
    mottle_rng = np.random.default_rng(design.seed)
    t = smoothstep(0.0, 1.0, p.rho) ** 1.5
    if design.mottle:
        t = np.clip(t + design.mottle * p.noise(mottle_rng, p.R * 0.35, 0.15), 0.0, 1.0)
    for c, (c0, c1) in enumerate(zip(design.centre_factor, design.edge_factor, strict=True)):
        p.factor[c] *= 1.0 + p.body * (c0 - 1.0 + (c1 - c0) * t)
    if design.tint is not None:
        colour, strength = design.tint
        p.over(p.body * strength, colour)
    for layer in design.layers:
        p.structure = layer.structure
        PAINTERS[layer.kind](p, np.random.default_rng(layer.seed), layer.params)
    return PatchMaps(p.factor, p.colour, p.cover, p.body, p.structures)
