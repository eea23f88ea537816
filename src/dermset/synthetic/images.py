"""Render one dermoscopy-like photograph: skin, lesion, hair, and the dermatoscope's optics.

The picture is built the way the real one is: skin of the patient's phototype with its furrows,
follicles and redness; the lesion (``lesions.render_patch``) warped onto it at the capture's
position, rotation and scale; hair pressed flat by the contact plate; then the dermatoscope —
a bright disc with the dark circular vignette of a contact lens, or the softer fall-off of a
non-contact one, polarised light (saturated, no glare) or non-polarised (glare spots, air
bubbles in the immersion fluid) — and sensor noise. Lesion size in pixels follows the clinical
size in millimetres and the dermatoscope's field of view, so size metadata and image agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from dermset.synthetic.lesions import LesionDesign, render_patch
from dermset.synthetic.texture import RGB, Canvas, band_noise, curve, smoothstep

#: Skin under the dermatoscope, by Fitzpatrick phototype (sRGB, 0..1).
SKIN_TONES: dict[str, RGB] = {
    "I": (0.94, 0.78, 0.72),
    "II": (0.90, 0.72, 0.62),
    "III": (0.83, 0.62, 0.50),
    "IV": (0.70, 0.49, 0.37),
    "V": (0.52, 0.35, 0.26),
    "VI": (0.36, 0.24, 0.18),
}

MAX_LESION_SPAN = 0.55  # lesion diameter / field diameter
HIGHLIGHT = 0.9  # auto-exposure keeps the 99th percentile of the brightest channel below this
MIN_MEAN, MAX_GAIN = 0.42, 1.8  # … and lifts darker fields towards this mean luminance

HAIR_COLOURS: dict[str, RGB] = {  # multiplicative
    "dark": (0.16, 0.13, 0.12),
    "brown": (0.35, 0.26, 0.20),
    "grey": (0.70, 0.68, 0.66),
    "blond": (0.80, 0.68, 0.50),
}


@dataclass(frozen=True)
class Device:
    """A phone with a dermatoscope: what ``acquisition_device`` names and EXIF would carry."""

    name: str
    make: str
    model: str
    dermoscopic_type: str  # ISIC vocabulary
    field_mm: float  # diameter of skin the photo's field shows (phone zoom included)

    @property
    def contact(self) -> bool:
        return self.dermoscopic_type.startswith("contact")

    @property
    def polarized(self) -> bool:
        return "non-polarized" not in self.dermoscopic_type


DEVICES: tuple[Device, ...] = (
    Device("iPhone 13 + DermLite DL4", "Apple", "iPhone 13", "contact polarized", 16.0),
    Device("Samsung Galaxy S22 + HEINE DELTAone", "samsung", "SM-S901B", "contact polarized", 14.0),
    Device("iPhone 14 Pro + DermLite DL5", "Apple", "iPhone 14 Pro", "contact non-polarized", 16.0),
    Device(
        "iPhone SE + FotoFinder handyscope",
        "Apple",
        "iPhone SE (3rd generation)",
        "contact polarized",
        14.0,
    ),
    Device("Google Pixel 7 + DermLite HUD", "Google", "Pixel 7", "non-contact polarized", 20.0),
)
DEVICE_WEIGHTS = (0.35, 0.25, 0.15, 0.1, 0.15)


@dataclass(frozen=True)
class Capture:
    """One photograph of a lesion: everything that changes from one shot to the next."""

    seed: int
    width: int
    height: int
    skin: RGB
    device: Device
    rotation: float = 0.0  # degrees
    shift: tuple[float, float] = (0.0, 0.0)  # lesion centre offset, in field radii
    scale: float = 1.0  # contact pressure / zoom
    hair: float = 0.3  # 0 none … 1 very hairy
    hair_colour: str = "dark"


@dataclass(frozen=True)
class Geometry:
    """Where the field of view and the lesion are in an image, in pixels (ground truth)."""

    field_centre: tuple[float, float]
    field_radius: float
    lesion_centre: tuple[float, float]
    lesion_radius: float
    px_per_mm: float

    @property
    def lesion_offset(self) -> float:
        """Lesion centre distance from the field centre, in field radii (the SOP's measure)."""
        dx = self.lesion_centre[0] - self.field_centre[0]
        dy = self.lesion_centre[1] - self.field_centre[1]
        return float(np.hypot(dx, dy) / self.field_radius)

    def mapped(self, point, scale: float = 1.0) -> Geometry:
        """The geometry after an image transform: *point* maps a pixel position."""
        return Geometry(
            point(self.field_centre),
            self.field_radius * scale,
            point(self.lesion_centre),
            self.lesion_radius * scale,
            self.px_per_mm * scale,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "field_centre": [round(v, 1) for v in self.field_centre],
            "field_radius_px": round(self.field_radius, 1),
            "lesion_centre": [round(v, 1) for v in self.lesion_centre],
            "lesion_radius_px": round(self.lesion_radius, 1),
            "lesion_offset": round(self.lesion_offset, 3),
            "px_per_mm": round(self.px_per_mm, 2),
        }


@dataclass
class Rendered:
    image: Image.Image  # RGB
    mask: Image.Image  # L, 255 = lesion
    geometry: Geometry
    structures: dict[str, Image.Image]  # IDS 2016 code -> L mask of where it is drawn


# The image is held planar (3, H, W) in float32: multiplying a plane by an (H, W) map is several
# times faster than broadcasting over an interleaved (H, W, 3) array, and the renderer's budget
# is ~0.1 s per megapixel image. Maps that are smooth are computed at reduced size and upsampled.


def _up(small: np.ndarray, w: int, h: int) -> np.ndarray:
    img = Image.fromarray(small.astype(np.float32, copy=False))
    return np.array(img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def _skin_relief(rng: np.random.Generator, h2: int, w2: int, px_per_mm: float) -> np.ndarray:
    """Skin lines and follicles at half resolution: 1 = untouched, lower = furrow."""
    cv = Canvas(h2, w2)
    diag = float(np.hypot(h2, w2))
    base = rng.uniform(0, np.pi)
    mm = px_per_mm / 2
    for k in range(3):  # primary lines run in two or three directions and cross in rhomboids
        ang = base + k * np.pi / 3 + rng.normal(0, 0.12)
        dx, dy = np.cos(ang), np.sin(ang)
        spacing = mm * rng.uniform(0.5, 0.9)
        for off in np.arange(-diag / 2, diag / 2, spacing):
            off += rng.normal(0, spacing * 0.2)
            cx, cy = w2 / 2 - dy * off, h2 / 2 + dx * off
            t0 = rng.uniform(-diag / 2, 0)
            t1 = t0 + rng.uniform(0.3, 1.0) * diag
            cv.polyline(
                [(cx + dx * t0, cy + dy * t0), (cx + dx * t1, cy + dy * t1)],
                1,
                value=int(rng.integers(40, 130)),
            )
    for _ in range(int(rng.integers(60, 160) * (w2 * h2) / 2.7e5)):
        cv.disk(
            rng.uniform(0, w2),
            rng.uniform(0, h2),
            max(0.8, mm * rng.uniform(0.03, 0.06)),
            value=int(rng.integers(120, 230)),
        )
    return 1.0 - 0.07 * cv.mask()


def _skin(rng: np.random.Generator, h: int, w: int, tone: RGB, px_per_mm: float) -> np.ndarray:
    qh, qw = max(8, h // 4), max(8, w // 4)
    h2, w2 = max(8, h // 2), max(8, w // 2)
    shade = _up(1.0 + 0.045 * band_noise(rng, qh, qw, qh / 2.5), w2, h2)
    relief = _up(shade * _skin_relief(rng, h2, w2, px_per_mm), w, h)
    blush = _up(np.maximum(band_noise(rng, qh, qw, qh / 5), 0.0), w, h)
    img = np.empty((3, h, w), np.float32)
    for c, red in enumerate((0.015, -0.012, -0.008)):  # redness: a little more red, less green
        np.multiply(relief, tone[c], out=img[c])
        img[c] += red * blush
    return img


def _place_lesion(
    img: np.ndarray,
    design: LesionDesign,
    rng: np.random.Generator,
    centre: tuple[float, float],
    radius: float,
    px_per_mm: float,
    angle_deg: float,
) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[float, float]]:
    """Paint the lesion onto the planar *img*: its mask, its structures' masks, its centre."""
    _, h, w = img.shape
    maps = render_patch(design, radius, px_per_mm, rng, angle_deg)
    size = maps.body.shape[0]
    ox, oy = round(centre[0] - size / 2), round(centre[1] - size / 2)
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(w, ox + size), min(h, oy + size)
    mask = np.zeros((h, w), np.uint8)
    placed = (ox + size / 2, oy + size / 2)
    structures: dict[str, np.ndarray] = {}
    if x1 <= x0 or y1 <= y0:
        return mask, structures, placed
    py, px = slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox)
    keep = 1.0 - maps.cover[py, px]
    for c in range(3):
        plane = img[c, y0:y1, x0:x1]
        plane *= maps.factor[c, py, px] * keep
        plane += maps.colour[c, py, px]
    mask[y0:y1, x0:x1] = (maps.body[py, px] >= 0.5).astype(np.uint8) * 255
    for code, where in maps.structures.items():
        full = np.zeros((h, w), np.uint8)
        full[y0:y1, x0:x1] = where[py, px].astype(np.uint8) * 255
        if full.any():
            structures[code] = full
    return mask, structures, placed


def _hair(rng: np.random.Generator, cap: Capture, h2: int, w2: int, mm: float) -> np.ndarray:
    """Hair pressed flat by the plate, drawn at half resolution: coverage 0..1."""
    cv = Canvas(h2, w2)
    n = round(cap.hair * 30 * rng.uniform(0.6, 1.4))
    main = rng.uniform(0, np.pi)  # hairs of one site tend to lie one way
    for _ in range(n):
        start = (rng.uniform(-0.1, 1.1) * w2, rng.uniform(-0.1, 1.1) * h2)
        ang = main + rng.normal(0, 0.5) + (np.pi if rng.random() < 0.5 else 0.0)
        cv.polyline(
            curve(rng, start, ang, rng.uniform(0.25, 0.9) * w2, 12, 0.8),
            max(1.0, mm * rng.uniform(0.05, 0.1)),
        )
    return cv.mask()


def _glare(img: np.ndarray, rng: np.random.Generator, fc, fr, px_per_mm: float) -> None:
    _, h, w = img.shape
    cv = Canvas(h, w)
    for _ in range(int(rng.integers(15, 50))):
        a, d = rng.uniform(0, 2 * np.pi), fr * np.sqrt(rng.uniform(0, 0.9))
        cv.disk(
            fc[0] + d * np.cos(a),
            fc[1] + d * np.sin(a),
            rng.uniform(1.0, 2.5) * w / 1200,
            value=int(rng.integers(120, 255)),
        )
    for _ in range(int(rng.integers(0, 3))):
        rb = px_per_mm * rng.uniform(0.3, 1.0)
        a, d = rng.uniform(0, 2 * np.pi), fr * np.sqrt(rng.uniform(0, 0.7))
        cv.ring(fc[0] + d * np.cos(a), fc[1] + d * np.sin(a), rb, 1 + int(rb / 12), value=70)
    glare = np.asarray(cv.image, np.float32) * (0.85 / 255.0)
    idx = np.nonzero(glare)
    for c in range(3):
        plane = img[c]
        plane[idx] += glare[idx] * (0.97 - plane[idx])


def _optics(img: np.ndarray, rng: np.random.Generator, cap: Capture, fc, fr, px_per_mm) -> None:
    """Hair, illumination, field of view, glare and colour of the dermatoscope, in place."""
    _, h, w = img.shape
    dev = cap.device
    h2, w2 = max(8, h // 2), max(8, w // 2)
    qh, qw = max(8, h // 4), max(8, w // 4)
    yy, xx = np.mgrid[0:qh, 0:qw].astype(np.float32)
    r = np.hypot(xx * (w / qw) - fc[0], yy * (h / qh) - fc[1]) / fr
    tilt = rng.normal(0, 0.05, 2)
    # Contact devices light the skin through a ring of LEDs: real contact images (ISIC,
    # HAM10000) are as bright or brighter towards the rim, then fall off in its last few percent
    # into the dark vignette. A non-contact device fills the frame, a little darker in the corners.
    light = 1.0 + (rng.uniform(-0.03, 0.15) if dev.contact else -0.08) * r**2
    light += tilt[0] * (xx / qw - 0.5) + tilt[1] * (yy / qh - 0.5)
    inside = smoothstep(1.0, 0.95, r) if dev.contact else np.ones_like(r)
    outside = 0.035
    field = _up(light * inside + outside * (1.0 - inside), w2, h2)
    hair = _hair(rng, cap, h2, w2, px_per_mm / 2)
    hf = np.asarray(HAIR_COLOURS[cap.hair_colour], np.float32)
    lum = float(hf.mean())
    field = field * (1.0 - hair * (1.0 - lum))
    if not dev.polarized:  # glare spots and air bubbles in the immersion fluid
        _glare(img, rng, fc, fr, px_per_mm)
    img *= _up(field, w, h)
    wb = 1.0 + rng.normal(0, 0.02, 3)
    if not dev.polarized:
        wb *= (0.98, 0.99, 1.02)
    sat = 0.07 if dev.polarized else 0.0  # crossed polarisers: deeper, more saturated colour
    grey = (img[0] + img[1] + img[2]) * (sat / 3.0)
    for c in range(3):
        img[c] *= wb[c] * (1.0 + sat)
        img[c] -= grey * wb[c]


def _auto_exposure(img: np.ndarray, fc, fr) -> None:
    """The phone's auto-exposure, measured on every 8th pixel inside the field.

    Dark skin is brought up towards a mean luminance of MIN_MEAN (with at most MAX_GAIN), and the
    brightest skin is kept below clipping (99th percentile of the brightest channel at most
    HIGHLIGHT), as a phone camera does.
    """
    sub = img[:, ::8, ::8]
    yy, xx = np.mgrid[0 : sub.shape[1], 0 : sub.shape[2]]
    inside = np.hypot(xx * 8 - fc[0], yy * 8 - fc[1]) < 0.95 * fr
    if not inside.any():
        return
    pixels = sub[:, inside]
    mean = float((0.299 * pixels[0] + 0.587 * pixels[1] + 0.114 * pixels[2]).mean())
    gain = min(MAX_GAIN, MIN_MEAN / mean) if 0 < mean < MIN_MEAN else 1.0
    top = float(np.percentile(pixels.max(axis=0), 99)) * gain
    if top > HIGHLIGHT:
        gain *= HIGHLIGHT / top
    if gain != 1.0:
        img *= gain


def _to_image(img: np.ndarray, rng: np.random.Generator) -> Image.Image:
    _, h, w = img.shape
    grain = rng.integers(-3, 4, size=(h, w), dtype=np.int8).astype(np.float32)
    planes = []
    for c in range(3):
        plane = img[c]
        plane *= 255.0
        plane += grain
        np.clip(plane, 0, 255, out=plane)
        planes.append(Image.fromarray(plane.astype(np.uint8)))
    return Image.merge("RGB", planes)


def render_capture(design: LesionDesign, diameter_mm: float, cap: Capture) -> Rendered:
    """Render one photograph of a lesion of *diameter_mm* under capture *cap*."""
    rng = np.random.default_rng(cap.seed)
    w, h = cap.width, cap.height
    short = min(w, h)
    if cap.device.contact:  # the lens's disc, slightly off-centre on the phone's sensor
        fr = short / 2 * rng.uniform(1.0, 1.12)
        fc = (w / 2 + rng.normal(0, 0.01) * w, h / 2 + rng.normal(0, 0.01) * h)
    else:  # the whole frame, taken as its equivalent circle (as the SOP does)
        fr = float(np.sqrt(w * h / np.pi))
        fc = (w / 2, h / 2)
    # A clinician zooms out for a large lesion: it spans at most MAX_LESION_SPAN of the field.
    px_per_mm = 2 * fr / max(cap.device.field_mm, diameter_mm / MAX_LESION_SPAN)
    radius = diameter_mm / 2 * px_per_mm * cap.scale
    centre = (fc[0] + cap.shift[0] * fr, fc[1] + cap.shift[1] * fr)
    img = _skin(rng, h, w, cap.skin, px_per_mm)
    lesion_rng = np.random.default_rng(rng.integers(1 << 31))
    mask, structures, centre = _place_lesion(
        img, design, lesion_rng, centre, radius, px_per_mm, cap.rotation
    )
    _optics(img, rng, cap, fc, fr, px_per_mm)
    _auto_exposure(img, fc, fr)
    geometry = Geometry(fc, fr, centre, radius, px_per_mm)
    return Rendered(
        _to_image(img, rng),
        Image.fromarray(mask),
        geometry,
        {code: Image.fromarray(m) for code, m in structures.items()},
    )
