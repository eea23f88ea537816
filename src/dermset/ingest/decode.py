"""Decoding an image file once, safely, at the scale the SOP checks need.

A clinical upload can be anything: a phone's HEIC, a 16-bit TIFF from a scanner, a CMYK JPEG
from a print workflow, a text file named ``.jpg``, a truncated transfer or a decompression bomb.
:func:`decode` recognises the format by its content (never by the extension), refuses what it
cannot take with a :class:`DecodeError` that says why, and otherwise returns the image oriented
as the camera meant it (EXIF orientation applied), in 8-bit RGB, at an *analysis* scale.

Decoding dominates ingest, so JPEGs are decoded in the DCT domain at a reduced scale (Pillow
``draft``, libjpeg-turbo's scaled IDCT): at 1/4 it costs about what 1/8 costs (entropy decoding
dominates), and a long side of ~1,000 px keeps the focus check sensitive (see
docs/sop-calibration.md). A JPEG is never decoded at full size. Other formats have no such
shortcut; they are decoded in full once and reduced with an area filter.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

#: Larger than any phone or dermatoscope camera (200 MP sensors bin to 12-50 MP output);
#: beyond this a file is treated as a decompression bomb and never decoded.
MAX_PIXELS = 120_000_000
#: Below this no dermoscopic structure can be seen; such a file is an icon or an error.
MIN_SIDE = 32
#: The long side the analysis image is decoded to (at least), see the module docstring.
ANALYSIS_LONG_SIDE = 960
#: The short side of the small image used for exposure, colour, field-of-view and fingerprints.
SMALL_SHORT_SIDE = 256

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard agrees with ours

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff", "HEIF": "image/heif"}


class DecodeError(Exception):
    """The file cannot be taken in; ``rule`` names the reason for the quarantine list."""

    def __init__(self, message: str, rule: str):
        super().__init__(message)
        self.rule = rule


@dataclass
class Decoded:
    """One image, decoded once: what the checks, the scrub and the registry need."""

    format: str  # JPEG | PNG | TIFF | HEIF
    mode: str  # the file's own pixel mode (e.g. RGB, CMYK, I;16, P)
    width: int  # full size, as displayed (after orientation)
    height: int
    orientation: int  # the EXIF orientation found (1 = as stored)
    icc_profile: bytes | None
    exif: Image.Exif | None
    #: oriented 8-bit RGB, long side >= ANALYSIS_LONG_SIDE when the image has it
    analysis: np.ndarray
    #: analysis pixels per full-size pixel (1.0: full size)
    scale: float
    #: SHA-256 identifying the decoded pixels (see :func:`pixel_key`); None for JPEG, whose key
    #: comes from its coded data (scrub.py) without a full decode
    pixel_sha256: str | None = None
    #: the full-size oriented image for formats that are re-encoded losslessly when stored
    full: Image.Image | None = None

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def small(self) -> np.ndarray:
        """The analysis image reduced to a short side of SMALL_SHORT_SIDE (area filter)."""
        return reduce_to(self.analysis, SMALL_SHORT_SIDE)


def sniff(data: bytes) -> str:
    """The format by content; raises DecodeError for empty, text and unknown files."""
    if not data:
        raise DecodeError("the file is empty (0 bytes)", "empty_file")
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF"
    head = data[:512]
    if _looks_like_text(head):
        return _raise(
            f"not an image: the file holds text (starts {head[:24].decode('utf-8', 'replace')!r})",
            "not_an_image",
        )
    return _raise(
        f"not an image in a supported format (JPEG, PNG, TIFF, HEIC); first bytes {data[:8].hex()}",
        "unsupported_format",
    )


def _raise(message: str, rule: str):
    raise DecodeError(message, rule)


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def decode(data: bytes) -> Decoded:
    """Decode *data* once; raises DecodeError with a clear reason for anything unusable."""
    fmt = sniff(data)
    if fmt == "HEIF":
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ours is clearer
            im = Image.open(io.BytesIO(data))
            return _decode_open(im, fmt)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"decompression bomb refused: {exc}", "decompression_bomb") from None
    except OSError as exc:
        text = str(exc)
        if "truncated" in text:
            raise DecodeError(
                "the file is truncated (its image data stops early); copy it again from the "
                "camera or phone",
                "truncated",
            ) from None
        raise DecodeError(f"the {fmt} file is corrupt: {text}", "corrupt") from None
    except (ValueError, SyntaxError, EOFError, MemoryError, IndexError, KeyError) as exc:
        raise DecodeError(
            f"the {fmt} file is corrupt: {type(exc).__name__}: {exc}", "corrupt"
        ) from None


def _decode_open(im: Image.Image, fmt: str) -> Decoded:
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise DecodeError(
            f"decompression bomb refused: the header declares {w}×{h} px "
            f"({w * h / 1e6:.0f} MP, limit {MAX_PIXELS / 1e6:.0f} MP)",
            "decompression_bomb",
        )
    if min(w, h) < MIN_SIDE:
        raise DecodeError(
            f"{w}×{h} px is too small to be a clinical image (minimum {MIN_SIDE} px a side)",
            "too_small",
        )
    exif = _exif(im)
    orientation = int(exif.get(0x0112, 1)) if exif is not None else 1
    if orientation not in range(1, 9):
        orientation = 1
    icc = im.info.get("icc_profile") or None
    mode = im.mode
    pixel_sha = None
    full = None
    if fmt == "JPEG":
        if mode not in ("L", "RGB", "CMYK", "YCbCr"):
            raise DecodeError(f"JPEG with {mode} pixels is not supported", "unsupported_mode")
        target = _draft_request(w, h)
        im.draft("RGB" if mode != "CMYK" else "CMYK", target)
        im.load()
        scale = im.size[0] / w
        analysis_im = im
    else:
        im.load()
        if mode in ("CMYK", "F") or mode.startswith("I;32") or mode.startswith("F;"):
            raise DecodeError(
                f"{fmt} with {mode} pixels is not supported; export it as 8- or 16-bit RGB",
                "unsupported_mode",
            )
        full = ImageOps.exif_transpose(im) if orientation != 1 else im
        pixel_sha = pixel_key(full)
        analysis_im = full
        scale = 1.0
    rgb = to_rgb8(analysis_im)
    if fmt == "JPEG" and orientation != 1:
        rgb = orient_array(rgb, orientation)
    if fmt != "JPEG":
        long_side = max(rgb.shape[:2])
        if long_side > 2 * ANALYSIS_LONG_SIDE:
            factor = long_side / (1.5 * ANALYSIS_LONG_SIDE)
            rgb = reduce_by(rgb, factor)
            scale = rgb.shape[1] / full.size[0]
    ow, oh = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return Decoded(
        format=fmt,
        mode=mode,
        width=ow,
        height=oh,
        orientation=orientation,
        icc_profile=icc,
        exif=exif,
        analysis=rgb,
        scale=scale,
        pixel_sha256=pixel_sha,
        full=full,
    )


def _draft_request(w: int, h: int) -> tuple[int, int]:
    """The size to ask ``draft`` for: it picks the smallest DCT scale at least this large."""
    long_side = max(w, h)
    if long_side <= ANALYSIS_LONG_SIDE:
        return w, h
    f = ANALYSIS_LONG_SIDE / long_side
    return max(1, int(w * f)), max(1, int(h * f))


def _exif(im: Image.Image) -> Image.Exif | None:
    try:
        exif = im.getexif()
    except Exception:  # a malformed EXIF block must not lose the image; its facts are lost
        return None
    return exif if len(exif) else None


def to_rgb8(im: Image.Image) -> np.ndarray:
    """8-bit RGB pixels of any supported mode, converted correctly.

    Pillow converts 16-bit grey to 8 bits by clipping at 255 (almost every pixel would turn
    white), so 16- and 32-bit integer modes are rescaled here instead.
    """
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if mode == "I" and arr.max(initial=0) <= 255:
            g = arr.astype(np.uint8)
        else:
            g = np.clip((arr.astype(np.float32) / 257.0).round(), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "RGB":
        return np.asarray(im)
    if mode in ("RGBA", "LA", "PA", "P", "L", "1", "CMYK", "YCbCr", "RGBX", "La", "RGBa"):
        return np.asarray(im.convert("RGB"))
    raise DecodeError(f"{mode} pixels are not supported", "unsupported_mode")


_ORIENT_OPS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: np.rot90(a, k=1)[::-1, :],
    8: lambda a: np.rot90(a, k=1),
}


def orient_array(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an HxWxC array (same result as ImageOps.exif_transpose)."""
    op = _ORIENT_OPS.get(orientation)
    return np.ascontiguousarray(op(a)) if op else a


def pixel_key(im: Image.Image) -> str:
    """SHA-256 of decoded pixels with their mode and size: equal only for identical pixels."""
    h = hashlib.sha256(f"{im.mode}:{im.size[0]}x{im.size[1]}:".encode())
    h.update(im.tobytes())
    return h.hexdigest()


def reduce_by(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by *factor* with an area filter (what a camera's binning does)."""
    import cv2

    if factor <= 1.0:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def reduce_to(rgb: np.ndarray, short_side: int) -> np.ndarray:
    """Shrink to *short_side*: an integer box filter (OpenCV's fast path), then bilinear.

    A plain area filter at a fractional ratio costs ~10x more (measured: 14 ms vs 1.3 ms for
    1,000 → 256 px) for no difference the checks can see.
    """
    import cv2

    h, w = rgb.shape[:2]
    factor = min(h, w) / short_side
    if factor <= 1.0:
        return rgb
    k = int(factor)
    if k >= 2:
        rgb = cv2.resize(
            rgb[: h - h % k, : w - w % k],
            ((w - w % k) // k, (h - h % k) // k),
            interpolation=cv2.INTER_AREA,
        )
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    if rgb.shape[1] == size[0] and rgb.shape[0] == size[1]:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def open_stored(data: bytes, orientation: int | None = 1) -> Image.Image:
    """A stored file as displayed: its recorded EXIF orientation applied (the store has none)."""
    if data[4:8] == b"ftyp":
        _register_heif()
    im = Image.open(io.BytesIO(data))
    im.load()
    if orientation and orientation != 1:
        method = {
            2: Image.Transpose.FLIP_LEFT_RIGHT,
            3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270,
            7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90,
        }[orientation]
        im = im.transpose(method)
    return im
