"""Planted problems with ground truth: what is wrong with a record and what dermset should do.

Kinds, each with the expectation written into ``truth.json``:

* exact duplicates — a byte copy of a JPEG, and the same pixels re-saved as PNG: excluded as
  ``exact`` (same decoded pixels), never stored twice;
* near duplicates — the same photograph re-encoded, resized, cropped, rotated by 90°, mirrored,
  brightened, colour-shifted or turned by a few degrees: excluded as ``near`` duplicates;
* SOP failures — an extra capture of a lesion that is out of focus, under- or over-exposed,
  off-centre or of too low a resolution: fails the named SOP check;
* bad files — a truncated JPEG, an empty file, a text file named ``.jpg``: quarantined with a
  message naming the file, nothing stored;
* privacy bait — EXIF with GPS position, camera make/model/serial number, DateTimeOriginal and a
  patient name, and file names that contain a (fake) patient name and birth date: ingested, but
  no EXIF, GPS or file name reaches the store, the registry or an export;
* format oddities — an iPhone HEIC, a JPEG whose EXIF Orientation says "rotate 90°", a CMYK
  JPEG: ingested as the upright RGB image.

Second captures (new photographs of a lesion, planned in ``cohort``) are the counter-examples:
dermset must *not* merge them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from dermset.synthetic.cohort import Lesion, Shot
from dermset.synthetic.images import DEVICES, MAX_LESION_SPAN, Device, Geometry

EXACT_KINDS = ("byte_copy", "png_resave")
NEAR_KINDS = (
    "jpeg_reencode",
    "resized",
    "cropped",
    "rotated_90",
    "flipped",
    "brightness",
    "colour_shift",
    "rotated_small",
)
DUPLICATE_KINDS = EXACT_KINDS + NEAR_KINDS
#: defect -> the SOP check of the protocol it must fail
SOP_KINDS: dict[str, str] = {
    "blurred": "sharpness",
    "underexposed": "underexposure",
    "overexposed": "overexposure",
    "off_centre": "lesion_offset",
    "low_resolution": "resolution_mp",
}
BAD_KINDS = ("truncated_jpeg", "zero_bytes", "not_an_image")
BAIT_KINDS = ("exif_identifiers", "name_in_filename", "exif_and_name")
FORMAT_KINDS = ("heic", "exif_orientation", "cmyk_jpeg")
PNG_SHARE = 0.04  # of originals, saved losslessly by some capture apps

#: Fake people for the privacy bait; nothing of them may survive ingest.
FAKE_PEOPLE = (
    {"given": "Erika", "family": "Mustermann", "born": "1957-08-12"},
    {"given": "Max", "family": "Mustermann", "born": "1949-03-02"},
    {"given": "Jane", "family": "Doe", "born": "1968-11-23"},
)
FAKE_GPS = {"lat": 48.137154, "lon": 11.576124}  # a city centre, not a clinic
FAKE_SERIAL = "F2LXK9Q7HG04"

MIN_LOW_RES_MP = 0.12  # the low-resolution plant has at most this many megapixels
UNDER_TARGET = 0.07  # mean luminance in the field of the under-exposed plant
OVER_TARGET = 0.96  # … and at least this for the over-exposed one


def off_centre_distance() -> float:
    """How far off-centre to plant a lesion: beyond the default protocol's fail limit."""
    from dermset.protocol import Protocol

    check = Protocol().sop.checks.get("lesion_offset")
    return min(0.9, max(0.55, (check.fail if check else 0.4) + 0.06))


def expectation(role: str, kind: str | None) -> dict[str, Any]:
    """What dermset should do with a planted record (machine-readable, for tests)."""
    if role == "exact_duplicate":
        return {"status": "duplicate", "evidence": "exact", "reason": "same decoded pixels"}
    if role == "near_duplicate":
        return {"status": "duplicate", "evidence": "near", "reason": f"an edited copy ({kind})"}
    if role == "second_capture":
        return {"status": "active", "duplicate": False, "reason": "a new photograph of the lesion"}
    if role == "sop_failure":
        assert kind is not None
        return {"sop": {SOP_KINDS[kind]: "fail"}, "reason": kind.replace("_", " ")}
    if role == "bad_file":
        return {"quarantine": True, "stored": False, "reason": str(kind).replace("_", " ")}
    if role == "privacy_bait":
        scrub = []
        if kind in ("exif_identifiers", "exif_and_name"):
            scrub += ["exif", "gps", "make", "model", "serial", "datetime_original", "artist"]
        if kind in ("name_in_filename", "exif_and_name"):
            scrub += ["filename"]
        return {"status": "active", "scrub": scrub, "reason": "identifiers must not survive"}
    if role == "format":
        return {"status": "active", "decoded_as": "upright RGB", "reason": str(kind)}
    return {"status": "active"}


@dataclass
class PlantedCounts:
    duplicates: int
    sop_failures: int
    bad_files: int
    second_captures: int

    @property
    def extra(self) -> int:
        return self.duplicates + self.sop_failures + self.bad_files + self.second_captures


def planted_counts(size: int, second_captures: int) -> PlantedCounts:
    """The study excluded 18 duplicates of 1,044 records; every kind is planted at least once."""
    return PlantedCounts(
        duplicates=max(len(DUPLICATE_KINDS), round(size * 18 / 1044)),
        sop_failures=len(SOP_KINDS),
        bad_files=len(BAD_KINDS),
        second_captures=second_captures,
    )


def plan_planted(
    rng: np.random.Generator, lesions: list[Lesion], shots: list[Shot], counts: PlantedCounts
) -> list[Shot]:
    """Mark bait and odd formats on some originals and return the planted extra shots."""
    originals = [s for s in shots if s.role == "original"]
    order = [originals[i] for i in rng.permutation(len(originals))]
    n_png = max(1, round(PNG_SHARE * len(originals)))
    need = len(BAIT_KINDS) + len(FORMAT_KINDS) + n_png + counts.duplicates - 1
    if len(order) < need:
        raise ValueError("cohort too small for the planted problems; raise --size")
    for shot, kind in zip(order, BAIT_KINDS, strict=False):
        shot.role, shot.kind = "privacy_bait", kind
    rest = order[len(BAIT_KINDS) :]
    for shot, kind in zip(rest, FORMAT_KINDS, strict=False):
        shot.role, shot.kind = "format", kind
        shot.format = {"heic": "heic", "cmyk_jpeg": "jpeg", "exif_orientation": "jpeg"}[kind]
    rest = rest[len(FORMAT_KINDS) :]
    for shot in rest[:n_png]:
        shot.format = "png"
    sources = rest[n_png:]
    planted: list[Shot] = []
    for i in range(counts.duplicates):
        kind = DUPLICATE_KINDS[i % len(DUPLICATE_KINDS)]
        # one group of three — a byte copy (exact) and a re-encoded copy (near) of the same
        # photograph, so exact and near evidence meet in one group; the others are pairs
        src = sources[0] if i in (0, 2) else sources[i if i < 2 else i - 1]
        role = "exact_duplicate" if kind in EXACT_KINDS else "near_duplicate"
        planted.append(_derived(rng, src, role, kind, "png" if kind == "png_resave" else "jpeg"))
    by_lesion = {s.lesion_id: s for s in originals}
    picks = rng.choice(len(lesions), size=counts.sop_failures + counts.bad_files, replace=False)
    for n, idx in enumerate(picks):
        first = by_lesion[lesions[int(idx)].lesion_id]
        if n < counts.sop_failures:
            kind = list(SOP_KINDS)[n]
            shot = _derived(rng, first, "sop_failure", kind, "jpeg")
            shot.source = None  # a photograph of its own (a failed attempt), not a copy
            shot.rotation = float(rng.uniform(0, 360))
            if kind == "off_centre":  # zoomed out and not centred: small, near the rim
                les = lesions[int(idx)]
                device = device_by_name(shot.device)
                span = les.clin_size_long_diam_mm / max(
                    device.field_mm, les.clin_size_long_diam_mm / MAX_LESION_SPAN
                )
                shot.scale = float(min(1.0, 0.09 / span))
                a = rng.uniform(0, 2 * np.pi)
                d = off_centre_distance() + rng.uniform(0.0, 0.02)
                shot.shift = (float(d * np.cos(a)), float(d * np.sin(a)))
        else:
            kind = BAD_KINDS[n - counts.sop_failures]
            shot = _derived(rng, first, "bad_file", kind, "jpeg")
            shot.source = None
        planted.append(shot)
    return planted


def _derived(rng: np.random.Generator, src: Shot, role: str, kind: str, fmt: str) -> Shot:
    return Shot(
        image="",
        lesion_id=src.lesion_id,
        role=role,
        seed=int(rng.integers(1 << 31)),
        acquisition_day=src.acquisition_day,
        device=src.device,
        rotation=src.rotation,
        shift=src.shift,
        scale=src.scale,
        format=fmt,
        source=src,
        kind=kind,
    )


# -- image operations ---------------------------------------------------------------------------


def luminance_in_field(img: Image.Image, centre, radius) -> float:
    """Mean luminance (0–1) inside the dermatoscope's field, as the SOP measures exposure."""
    arr = np.asarray(img.convert("L"), np.float32) / 255.0
    h, w = arr.shape
    yy, xx = np.ogrid[:h, :w]
    inside = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= (0.9 * radius) ** 2
    return float(arr[inside].mean()) if inside.any() else float(arr.mean())


def apply_defect(
    img: Image.Image, kind: str, centre: tuple[float, float], radius: float
) -> tuple[Image.Image, dict[str, Any]]:
    """Spoil a photograph the way the SOP check *kind* catches (off-centre is a pose, not here).

    Exposure plants are pushed to a mean luminance inside the field (UNDER_TARGET, OVER_TARGET)
    well beyond the default protocol's fail limits, so they fail under any sane metric.
    """
    w, h = img.size
    if kind == "blurred":
        r = max(2.0, 0.012 * w)
        return img.filter(ImageFilter.GaussianBlur(r)), {"blur_radius_px": round(r, 1)}
    if kind == "underexposed":
        lum = luminance_in_field(img, centre, radius)
        gain = UNDER_TARGET / max(lum, 1e-3)
        out = img.point(lambda v: int(v * gain))
        return out, {
            "gain": round(gain, 3),
            "mean_luminance": round(luminance_in_field(out, centre, radius), 3),
        }
    if kind == "overexposed":
        out = img
        gain = 1.0
        while luminance_in_field(out, centre, radius) < OVER_TARGET and gain < 8:
            gain *= 1.4
            out = img.point(lambda v, g=gain: min(255, int(v * g)))
        return out, {
            "gain": round(gain, 3),
            "mean_luminance": round(luminance_in_field(out, centre, radius), 3),
        }
    if kind == "low_resolution":
        f = min(0.4, float(np.sqrt(MIN_LOW_RES_MP * 1e6 / (w * h))))
        size = (max(16, round(w * f)), max(12, round(h * f)))
        return img.resize(size, Image.Resampling.LANCZOS), {"scale": round(f, 3), "size": size}
    return img, {}


def near_duplicate(
    img: Image.Image, mask: Image.Image, kind: str, rng: np.random.Generator
) -> tuple[Image.Image, Image.Image, dict[str, Any]]:
    """An edited copy of a photograph, with its mask transformed the same way."""
    w, h = img.size
    if kind == "jpeg_reencode":
        return img, mask, {"quality": 70}
    if kind == "resized":
        size = (round(w * 0.6), round(h * 0.6))
        return (
            img.resize(size, Image.Resampling.LANCZOS),
            mask.resize(size, Image.Resampling.NEAREST),
            {"scale": 0.6, "size": size},
        )
    if kind == "cropped":
        f = float(rng.uniform(0.8, 0.88))
        cw, ch = round(w * f), round(h * f)
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        box = (x0, y0, x0 + cw, y0 + ch)
        return img.crop(box), mask.crop(box), {"box": list(box)}
    if kind == "rotated_90":
        t = Image.Transpose.ROTATE_90
        return img.transpose(t), mask.transpose(t), {"degrees": 90}
    if kind == "flipped":
        t = Image.Transpose.FLIP_LEFT_RIGHT
        return img.transpose(t), mask.transpose(t), {"mirror": "left-right"}
    if kind == "brightness":
        f = float(rng.uniform(1.12, 1.18))
        return ImageEnhance.Brightness(img).enhance(f), mask, {"factor": round(f, 3)}
    if kind == "colour_shift":
        gains = (1.06, 1.0, 0.93)
        r, g, b = img.split()
        bands = [
            ch.point(lambda v, k=k: min(255, int(v * k)))
            for ch, k in zip((r, g, b), gains, strict=True)
        ]
        return Image.merge("RGB", bands), mask, {"channel_gains": list(gains)}
    if kind == "rotated_small":
        deg = float(rng.choice([-1, 1]) * rng.uniform(3, 6))
        return (
            img.rotate(deg, Image.Resampling.BICUBIC),
            mask.rotate(deg, Image.Resampling.NEAREST),
            {"degrees": round(deg, 2)},
        )
    raise ValueError(f"unknown near-duplicate kind {kind!r}")


def moved_geometry(g: Geometry, kind: str, params: dict[str, Any], size: tuple[int, int]):
    """Where field and lesion are after a near-duplicate edit or a downscale of a w×h image."""
    w, h = size
    if kind in ("resized", "low_resolution"):
        f = params["scale"]
        fx, fy = params.get("size", (w * f, h * f))
        sx, sy = fx / w, fy / h
        return g.mapped(lambda p: (p[0] * sx, p[1] * sy), (sx + sy) / 2)
    if kind == "cropped":
        x0, y0 = params["box"][:2]
        return g.mapped(lambda p: (p[0] - x0, p[1] - y0))
    if kind == "rotated_90":  # counter-clockwise: the top row becomes the left column
        return g.mapped(lambda p: (p[1], w - p[0]))
    if kind == "flipped":
        return g.mapped(lambda p: (w - p[0], p[1]))
    if kind == "rotated_small":  # counter-clockwise about the image centre
        t = np.deg2rad(params["degrees"])
        c, s = np.cos(t), np.sin(t)
        cx, cy = w / 2, h / 2
        return g.mapped(
            lambda p: (
                float(cx + (p[0] - cx) * c + (p[1] - cy) * s),
                float(cy - (p[0] - cx) * s + (p[1] - cy) * c),
            )
        )
    return g


def bad_file_bytes(kind: str, jpeg: bytes) -> bytes:
    """The content of a broken upload."""
    if kind == "truncated_jpeg":
        return jpeg[: int(len(jpeg) * 0.55)]
    if kind == "zero_bytes":
        return b""
    if kind == "not_an_image":
        return (
            b"<html><head><title>502 Bad Gateway</title></head>\n"
            b"<body><h1>502 Bad Gateway</h1><p>The upload proxy timed out.</p></body></html>\n"
        )
    raise ValueError(f"unknown bad-file kind {kind!r}")


def device_by_name(name: str) -> Device:
    return next(d for d in DEVICES if d.name == name)


def bait_exif(device: Device, day: int, person: dict[str, str]) -> Image.Exif:
    """EXIF a phone would write, plus what a careless app adds: position, serial, a name."""
    exif = Image.Exif()
    exif[0x010F] = device.make  # Make
    exif[0x0110] = device.model  # Model
    exif[0x0131] = "Camera 4.2"  # Software
    exif[0x013B] = f"{person['given']} {person['family']}"  # Artist
    exif[0x010E] = f"{person['family']}, {person['given']} *{person['born']}"  # ImageDescription
    stamp = f"2024:{1 + (day // 28) % 12:02d}:{1 + day % 28:02d} 10:{day % 60:02d}:31"
    exif[0x0132] = stamp  # DateTime
    sub = exif.get_ifd(0x8769)  # Exif IFD
    sub[0x9003] = stamp  # DateTimeOriginal
    sub[0xA431] = FAKE_SERIAL  # BodySerialNumber
    gps = exif.get_ifd(0x8825)  # GPS IFD

    def dms(value: float) -> tuple[float, float, float]:
        d = int(value)
        m = int((value - d) * 60)
        return (float(d), float(m), round(((value - d) * 60 - m) * 60, 2))

    gps[1], gps[2] = "N", dms(FAKE_GPS["lat"])  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "E", dms(FAKE_GPS["lon"])  # GPSLongitudeRef, GPSLongitude
    return exif


def orientation_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored pixels must be turned 90° clockwise to view
    return exif


def encode(img: Image.Image, fmt: str, quality: int = 92, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    extra: dict[str, Any] = {"exif": exif.tobytes()} if exif is not None else {}
    if fmt == "png":
        img.save(buf, format="PNG", compress_level=1)
    elif fmt == "heic":
        import pillow_heif  # registered per process: workers start fresh

        pillow_heif.register_heif_opener()
        # x265's default preset takes seconds per megapixel; "ultrafast" a tenth of that
        img.save(
            buf, format="HEIF", quality=quality - 10, enc_params={"preset": "ultrafast"}, **extra
        )
    else:
        img.save(buf, format="JPEG", quality=quality, **extra)
    return buf.getvalue()
