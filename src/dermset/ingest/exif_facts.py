"""The acquisition facts the protocol keeps from EXIF, read before the scrub removes it.

Only two facts move into the registry: the device (make and model, never a serial number,
owner name or lens serial) and the capture day (which the registry shifts per patient). GPS,
time of day, serials and everything else are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from PIL import Image

from dermset.model.record import MAX_TEXT

TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_DATETIME = 0x0132
TAG_EXIF_IFD = 0x8769
TAG_DATETIME_ORIGINAL = 0x9003
TAG_DATETIME_DIGITIZED = 0x9004
EPOCH = date(1970, 1, 1)

_DATE = re.compile(r"^\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})")


@dataclass(frozen=True)
class ExifFacts:
    device: str | None = None
    #: capture day as days since 1970-01-01, before any shift
    capture_day: int | None = None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\x00", " ").split())
    return text or None


def device_name(make: str | None, model: str | None) -> str | None:
    """ "Apple iPhone 13", not "Apple Apple iPhone 13" (many models repeat the make)."""
    if make and model and model.casefold().startswith(make.split()[0].casefold()):
        make = None
    name = " ".join(p for p in (make, model) if p)
    return name[:MAX_TEXT] or None


def day_number(text: str | None) -> int | None:
    """An EXIF date ("2024:05:17 10:31:02") as days since 1970-01-01; None when unusable."""
    m = _DATE.match(text or "")
    if not m:
        return None
    try:
        d = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    if d.year < 1990 or d > date.today():  # camera clocks left at 0000 or set in the future
        return None
    return (d - EPOCH).days


def read_facts(exif: Image.Exif | None) -> ExifFacts:
    if exif is None:
        return ExifFacts()
    try:
        device = device_name(_text(exif.get(TAG_MAKE)), _text(exif.get(TAG_MODEL)))
        sub = exif.get_ifd(TAG_EXIF_IFD)
        when = (
            _text(sub.get(TAG_DATETIME_ORIGINAL))
            or _text(sub.get(TAG_DATETIME_DIGITIZED))
            or _text(exif.get(TAG_DATETIME))
        )
    except Exception:  # a malformed EXIF block costs its facts, never the image
        return ExifFacts()
    return ExifFacts(device=device, capture_day=day_number(when))
