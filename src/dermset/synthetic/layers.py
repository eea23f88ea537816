"""The painters of dermoscopic structures: network, dots and globules, structureless areas,
streaks, vessels, clods, line textures and shiny white lines.

Each paints one ``Layer`` of a design into the patch held by ``lesions._Painter``, through its
``multiply`` (pigment) or ``over`` (colour laid on top) methods, which also record where the
layer's structure is visible (the structure masks of the ground truth).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dermset.synthetic.shapes import THETA_STEPS, WHITE, Shape
from dermset.synthetic.texture import RGB, Canvas, band_noise, curve, lines_from_noise, smoothstep

if TYPE_CHECKING:
    from dermset.synthetic.lesions import _Painter


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


PAINTERS: dict[str, Callable[[_Painter, np.random.Generator, dict[str, Any]], None]] = {
    "network": _network,
    "dots": _dots,
    "area": _area,
    "streaks": _streaks,
    "vessels": _vessels,
    "clods": _clods,
    "lines": _lines,
    "shiny": _shiny,
}
