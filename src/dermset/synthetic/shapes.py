"""Outlines and colours of the lesion cartoon: a radial outline function and a small palette.

Pigment colours are multiplicative factors (pigment absorbs light, so the same lesion is darker
on darker skin); white, blue-grey and red structures are colours laid over the skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermset.synthetic.texture import RGB, smoothstep

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


def jitter(rng: np.random.Generator, c: RGB, amount: float = 0.06) -> RGB:
    j = rng.normal(0.0, amount, 3) + rng.normal(0.0, amount)
    return tuple(float(np.clip(v * (1 + d), 0.02, 1.0)) for v, d in zip(c, j, strict=True))  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(x + (y - x) * t for x, y in zip(a, b, strict=True))  # type: ignore[return-value]
