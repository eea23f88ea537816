"""Cheap random fields and drawing helpers for the synthetic renderer.

Everything is built from random grids upsampled by Pillow (C code), so a 1-megapixel field costs
a few milliseconds; per-pixel Python or a Worley/Perlin implementation in numpy would cost the
demo its "well under a minute" budget.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[float, float, float]


def band_noise(
    rng: np.random.Generator, h: int, w: int, cell_y: float, cell_x: float | None = None
) -> np.ndarray:
    """A smooth random field whose features are about ``cell`` px apart; zero mean, unit std.

    Its zero crossings form a maze of closed curves — the look of a pigment network or of skin
    furrows, depending on the cell size and anisotropy.
    """
    cell_x = cell_y if cell_x is None else cell_x
    gh = max(2, int(np.ceil(h / max(cell_y, 1.0))) + 1)
    gw = max(2, int(np.ceil(w / max(cell_x, 1.0))) + 1)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return _upsample_normalised(grid, h, w)


def _upsample_normalised(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    out = np.asarray(
        Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32
    )
    std = float(out.std())
    return (out - float(out.mean())) / (std if std > 1e-6 else 1.0)


def perturbed_noise(
    base: np.ndarray, rng: np.random.Generator, amount: float, h: int, w: int
) -> np.ndarray:
    """Upsample a grid mixed with fresh randomness: the same pattern, slightly moved.

    A second capture of a lesion keeps its network but not pixel for pixel.
    """
    grid = base + amount * rng.standard_normal(base.shape).astype(np.float32)
    return _upsample_normalised(grid, h, w)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at edge0 to 1 at edge1 (edge0 > edge1 gives the falling step)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def lines_from_noise(noise: np.ndarray, width: float) -> np.ndarray:
    """Thin ridges along the zero crossings of a field; ``width`` in field units."""
    return np.exp(-np.square(noise / width))


class Canvas:
    """An 8-bit drawing layer in float coordinates, returned as a float mask in 0..1."""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.image = Image.new("L", (w, h), 0)
        self.draw = ImageDraw.Draw(self.image)

    def disk(self, x: float, y: float, rx: float, ry: float | None = None, value: int = 255):
        ry = rx if ry is None else ry
        self.draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=value)

    def ring(self, x: float, y: float, r: float, width: int, value: int = 255) -> None:
        self.draw.ellipse((x - r, y - r, x + r, y + r), outline=value, width=max(1, width))

    def polyline(self, points: list[tuple[float, float]], width: float, value: int = 255):
        if len(points) >= 2:
            self.draw.line(points, fill=value, width=max(1, round(width)), joint="curve")

    def polygon(self, points: list[tuple[float, float]], value: int = 255) -> None:
        if len(points) >= 3:
            self.draw.polygon(points, fill=value)

    def mask(self, blur: float = 0.0) -> np.ndarray:
        """The layer as floats; *blur* softens edges with one box pass (a third of a Gaussian's
        cost, and edges of cartoon structures need no more)."""
        img = self.image.filter(ImageFilter.BoxBlur(blur)) if blur > 0 else self.image
        return np.asarray(img, dtype=np.float32) * (1.0 / 255.0)


def curve(
    rng: np.random.Generator,
    start: tuple[float, float],
    angle: float,
    length: float,
    steps: int,
    bend: float,
) -> list[tuple[float, float]]:
    """A gently bending polyline (a hair, a vessel, a streak): a random walk of the heading."""
    x, y = start
    pts = [(x, y)]
    step = length / steps
    turn = rng.normal(0.0, bend)
    for _ in range(steps):
        turn += rng.normal(0.0, bend * 0.5)
        angle += turn / steps
        x += step * np.cos(angle)
        y += step * np.sin(angle)
        pts.append((float(x), float(y)))
    return pts
