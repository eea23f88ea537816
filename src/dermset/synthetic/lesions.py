"""What a lesion of each diagnostic category looks like under the dermatoscope (a cartoon).

A ``LesionDesign`` is drawn once per lesion from the lesion's own seed: outline, colours and the
dermoscopic structures of its category, named with the IDS 2016 codes of
``dermset.model.structures`` so the structures can serve as ground truth. ``render_patch`` paints
it in lesion-local coordinates (units of the lesion radius) into three maps that the image
renderer warps onto the skin: a multiplicative pigment factor ``F`` (pigment absorbs light, so a
lesion on darker skin is darker), a premultiplied over-colour ``C`` with coverage ``A`` (white,
blue-grey, red structures that sit on top), and the lesion body (the mask).

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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dermset.synthetic.texture import (
    RGB,
    Canvas,
    band_noise,
    curve,
    lines_from_noise,
    perturbed_noise,
    smoothstep,
)

# Multiplicative pigment factors (relative to the skin under them).
TAN: RGB = (0.85, 0.72, 0.62)
LIGHT_BROWN: RGB = (0.70, 0.53, 0.39)
BROWN: RGB = (0.53, 0.36, 0.24)
DARK_BROWN: RGB = (0.36, 0.23, 0.15)
BLACK: RGB = (0.17, 0.12, 0.11)
# Colours laid over the skin.
BLUE_GREY: RGB = (0.40, 0.46, 0.56)
BLUE_WHITE: RGB = (0.62, 0.68, 0.76)
WHITE: RGB = (0.96, 0.93, 0.91)
KERATIN: RGB = (0.95, 0.91, 0.78)
RED: RGB = (0.80, 0.17, 0.20)
DARK_RED: RGB = (0.52, 0.09, 0.13)
PURPLE: RGB = (0.47, 0.19, 0.36)
PINK: RGB = (0.93, 0.60, 0.60)
CRUST: RGB = (0.50, 0.18, 0.09)

THETA_STEPS = 1024
STRUCTURE_VISIBLE = 0.25  # a structure's mask: where its layer covers at least this much
Box = tuple[slice, slice]
ALL: Box = (slice(None), slice(None))


@dataclass(frozen=True)
class Shape:
    """A closed outline in lesion units: r(θ) = 1 + Σ a·cos(kθ+φ), scaled so its maximum is 1."""

    harmonics: tuple[tuple[int, float, float], ...]
    softness: float
    cx: float = 0.0
    cy: float = 0.0
    scale: float = 1.0

    def radius_table(self) -> np.ndarray:
        theta = np.linspace(-np.pi, np.pi, THETA_STEPS, endpoint=False)
        r = np.ones_like(theta)
        for k, amp, phase in self.harmonics:
            r += amp * np.cos(k * theta + phase)
        r = np.maximum(r, 0.25)
        return (r / r.max()).astype(np.float32)

    def rho(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Normalised distance: < 1 inside the outline, 1 on it."""
        dx = (x - self.cx) / self.scale
        dy = (y - self.cy) / self.scale
        idx = ((np.arctan2(dy, dx) + np.pi) * (THETA_STEPS / (2 * np.pi))).astype(np.int32)
        return np.hypot(dx, dy) / self.radius_table()[idx % THETA_STEPS]

    def alpha(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = self.softness
        return smoothstep(1.0 + s, 1.0 - s, self.rho(x, y))


def random_shape(
    rng: np.random.Generator,
    irregularity: float,
    jagged: float,
    softness: float,
    cx: float = 0.0,
    cy: float = 0.0,
    scale: float = 1.0,
) -> Shape:
    """An outline: low harmonics for asymmetry, high ones for a notched or jagged border."""
    harm = [(1, irregularity * rng.uniform(0.2, 0.7), rng.uniform(0, 2 * np.pi))]
    harm += [
        (k, irregularity * rng.uniform(0.2, 1.0) / k, rng.uniform(0, 2 * np.pi))
        for k in (2, 3, 4, 5)
    ]
    if jagged > 0:
        harm += [
            (k, jagged * rng.uniform(0.2, 1.0) / (k / 8), rng.uniform(0, 2 * np.pi))
            for k in range(8, 30, 3)
        ]
    return Shape(tuple(harm), softness, cx, cy, scale)


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


def jitter(rng: np.random.Generator, c: RGB, amount: float = 0.06) -> RGB:
    j = rng.normal(0.0, amount, 3) + rng.normal(0.0, amount)
    return tuple(float(np.clip(v * (1 + d), 0.02, 1.0)) for v, d in zip(c, j, strict=True))  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(x + (y - x) * t for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


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


def _network(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    """Reticular lines: the pigmented grid left between round holes on a jittered hex lattice.

    Drawing the holes (not the lines) keeps them round and the lines of varying weight, as in a
    real network; an atypical network gets more jitter and uneven holes, hence thick, broken
    lines. The lattice belongs to the lesion; a capture moves each hole a little.
    """
    cell = p.mm(prm["cell_mm"])
    irregular = float(prm.get("thick_var", 0.0))
    row = cell * np.sqrt(3) / 2
    ys = np.arange(-p.P / 2 - cell, p.P / 2 + cell, row)
    xs = np.arange(-p.P / 2 - cell, p.P / 2 + cell, cell)
    gx, gy = np.meshgrid(xs, ys)
    gx = gx + (np.arange(len(ys))[:, None] % 2) * cell / 2
    jit = cell * (0.16 + 0.1 * irregular)
    gx = gx + lr.normal(0, jit, gx.shape) + p.rng.normal(0, 0.04 * cell, gx.shape)
    gy = gy + lr.normal(0, jit, gy.shape) + p.rng.normal(0, 0.04 * cell, gy.shape)
    hole = cell * (0.5 - prm["width"] * 0.45)
    sizes = hole * np.clip(lr.normal(1.0, 0.08 + 0.15 * irregular, gx.shape), 0.3, 1.4)
    cv = p.canvas()
    cv.draw.rectangle((0, 0, p.P, p.P), fill=255)
    cx, cy = p.P / 2, p.P / 2
    for x, y, r in zip(gx.ravel(), gy.ravel(), sizes.ravel(), strict=True):
        if abs(x) < cx + cell and abs(y) < cy + cell:
            cv.disk(cx + x, cy + y, r, r * 0.9, value=0)
    lines = cv.mask(blur=max(0.6, cell * 0.14))
    r0, r1 = prm.get("ring", (0.0, 1.0))
    region = p.body * smoothstep(r1 + 0.05, r1 - 0.3, p.rho)
    if r0 > 0:
        region *= smoothstep(r0 - 0.15, r0 + 0.1, p.rho)
    if prm.get("patchy"):
        region *= smoothstep(-0.3, 0.5, p.noise(lr, p.R * 0.6, 0.1))
    p.multiply(lines * region * prm["strength"], prm["factor"])


def _dots(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    cv = p.canvas()
    lo, hi = prm["size_mm"]
    for u, v in p.points_in(lr, prm["n"], prm["r_min"], prm["r_max"], None):
        r = p.mm(lr.uniform(lo, hi))
        ju, jv = p.rng.normal(0, 0.004, 2)
        x, y = p.px(u + ju, v + jv)
        cv.disk(x, y, r, r * lr.uniform(0.75, 1.0), value=int(lr.uniform(170, 255)))
    alpha = cv.mask(blur=max(0.7, p.mm(0.03)))
    if "factor" in prm:
        p.multiply(alpha * prm.get("strength", 1.0), prm["factor"])
    else:
        p.over(alpha * prm.get("strength", 1.0), prm["colour"])


def _area(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    """A structureless area (blotch, veil, regression, white patch, scale, ulcer)."""
    shape: Shape = prm["shape"]
    box = p.box(shape)
    alpha = shape.alpha(p.x[box], p.y[box])
    if prm.get("inside", True):
        alpha *= p.body[box]
    mottle = prm.get("mottle", 0.0)
    if mottle:
        noise = p.noise(lr, p.R * 0.25, 0.15)[box]
        alpha *= np.clip(1.0 - mottle + mottle * noise, 0.0, 1.0)
    alpha *= prm.get("strength", 1.0)
    if "factor" in prm:
        p.multiply(alpha, prm["factor"], box)
    else:
        p.over(alpha, prm["colour"], box)


def _streaks(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    cv = p.canvas()
    table = p.d.body.radius_table()
    centre, spread = prm["angle"], prm["spread"]
    width = max(2.0, p.mm(prm["width_mm"]))
    for _ in range(prm["n"]):
        t = centre + lr.uniform(-spread / 2, spread / 2)
        rad = table[int((t + np.pi) * THETA_STEPS / (2 * np.pi)) % THETA_STEPS]
        start = p.px(0.7 * rad * np.cos(t), 0.7 * rad * np.sin(t))
        length = p.R * rad * lr.uniform(0.3, 0.5)
        pts = curve(lr, start, t, length, 6, 0.4)
        cv.polyline(pts, width)
        if lr.random() < 0.6:  # pseudopod: a bulbous tip
            cv.disk(*pts[-1], width * 0.9)
    p.multiply(cv.mask(blur=width * 0.4) * prm["strength"], prm["factor"])


def _vessels(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    cv = p.canvas()
    kind = prm["kind"]
    w = max(1.5, p.mm(prm["width_mm"]))
    if kind == "arborizing":  # trunks that branch and taper
        for _ in range(prm["n"]):
            (u, v) = p.points_in(lr, 1, 0.3, 0.9, None)[0]
            stack = [(p.px(u, v), lr.uniform(-np.pi, np.pi), p.R * lr.uniform(0.5, 0.9), w)]
            while stack:
                start, ang, length, width = stack.pop()
                pts = curve(lr, start, ang, length, 8, 1.2)
                cv.polyline(pts, width)
                if width > 1.6 and length > p.R * 0.08:
                    for j in (3, 6):
                        side = lr.choice([-1.0, 1.0])
                        stack.append(
                            (pts[j], ang + side * lr.uniform(0.5, 1.1), length * 0.5, width * 0.6)
                        )
    elif kind in ("dotted", "glomerular"):
        cluster = kind == "glomerular"
        for u, v in p.points_in(lr, prm["n"], prm.get("r_min", 0.0), prm.get("r_max", 0.95), None):
            x, y = p.px(u, v)
            if cluster:  # a small coil: a knot of dots
                for _ in range(4):
                    cv.disk(x + lr.normal(0, w), y + lr.normal(0, w), w * 0.7)
            else:
                cv.disk(x, y, w * 0.6)
    elif kind == "hairpin":
        for u, v in p.points_in(lr, prm["n"], 0.3, 0.9, None):
            x, y = p.px(u, v)
            ang = np.arctan2(v, u) + lr.normal(0, 0.4)
            length = p.R * lr.uniform(0.12, 0.22)
            dx, dy = np.cos(ang), np.sin(ang)
            nx, ny = -dy * w, dx * w
            a = [(x + nx, y + ny), (x + nx + dx * length, y + ny + dy * length)]
            b = [(x - nx, y - ny), (x - nx + dx * length, y - ny + dy * length)]
            cv.polyline(a, w * 0.7)
            cv.polyline(b, w * 0.7)
            cv.disk(x + dx * length, y + dy * length, w * 1.05)
    else:  # linear irregular / wavy
        for u, v in p.points_in(lr, prm["n"], 0.1, 0.9, None):
            cv.polyline(
                curve(lr, p.px(u, v), lr.uniform(-np.pi, np.pi), p.R * 0.35, 10, 3.0), w * 0.8
            )
    inside = np.clip(p.body * 1.5, 0.0, 1.0)  # vessels run within the lesion
    p.over(cv.mask(blur=w * 0.3) * inside * prm.get("strength", 0.85), prm["colour"])


def _clods(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    """Round clods of several colours: lacunae, milia-like cysts, comedo-like openings, nests."""
    cv_by_colour: list[tuple[Canvas, RGB]] = [(p.canvas(), c) for c in prm["colours"]]
    lo, hi = prm["size_mm"]
    shape = prm.get("shape")
    for u, v in p.points_in(lr, prm["n"], prm.get("r_min", 0.0), prm.get("r_max", 0.9), shape):
        cv, _ = cv_by_colour[int(lr.integers(len(cv_by_colour)))]
        r = p.mm(lr.uniform(lo, hi))
        x, y = p.px(u, v)
        cv.disk(x, y, r, r * lr.uniform(prm.get("oval", 1.0), 1.0))
    blur = max(0.7, p.mm(prm.get("blur_mm", 0.03)))
    for cv, colour in cv_by_colour:
        alpha = cv.mask(blur) * prm.get("strength", 0.9)
        if prm.get("multiply"):
            p.multiply(alpha, colour)
        else:
            p.over(alpha, colour)


def _lines(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    """Line textures from noise: fissures/ridges, fingerprint, strawberry pseudo-network."""
    cell = p.mm(prm["cell_mm"])
    stretch = prm.get("stretch", 1.0)
    n = band_noise(lr, p.P, p.P, cell, cell * stretch)
    lines = lines_from_noise(n, prm["width"])
    region = p.body * smoothstep(1.05, 0.7, p.rho) * prm["strength"]
    if "factor" in prm:
        p.multiply(lines * region, prm["factor"])
    else:
        p.over(lines * region, prm["colour"])


def _shiny(p: _Painter, lr: np.random.Generator, prm: dict[str, Any]) -> None:
    """Shiny white structures: short white lines at right angles (polarised light)."""
    cv = p.canvas()
    w = max(1.5, p.mm(0.04))
    base = lr.uniform(0, np.pi)
    for u, v in p.points_in(lr, prm["n"], 0.0, 0.75, None):
        ang = base + lr.integers(2) * np.pi / 2 + lr.normal(0, 0.1)
        x, y = p.px(u, v)
        half = p.mm(lr.uniform(0.1, 0.25))
        dx, dy = np.cos(ang) * half, np.sin(ang) * half
        cv.polyline([(x - dx, y - dy), (x + dx, y + dy)], w)
    p.over(cv.mask(blur=1.2) * 0.45, WHITE)


_PAINT: dict[str, Callable[[_Painter, np.random.Generator, dict[str, Any]], None]] = {
    "network": _network,
    "dots": _dots,
    "area": _area,
    "streaks": _streaks,
    "vessels": _vessels,
    "clods": _clods,
    "lines": _lines,
    "shiny": _shiny,
}


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
        _PAINT[layer.kind](p, np.random.default_rng(layer.seed), layer.params)
    return PatchMaps(p.factor, p.colour, p.cover, p.body, p.structures)
