"""What an image file carries besides its pixels: the container's blocks, read independently.

The de-identification gate must not trust the ingest scrub it is checking, so this walks the
JPEG markers and PNG chunks itself and names every block that is not pixel data or colour
information. Allowed: the segments that define the decoded pixels, the ICC colour profile
(APP2 ``ICC_PROFILE``) and Adobe's APP14 colour-transform flag; in PNG the critical chunks and the
colour chunks. Everything else (EXIF with GPS, XMP, IPTC, comments, JFIF thumbnails, text chunks,
maker notes, bytes after the end of the image) is reported.
"""

from __future__ import annotations

import struct

JPEG_SOI = b"\xff\xd8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: markers that define the decoded pixels: SOFn, DHT, DAC, DQT, DNL, DRI, DHP, EXP
_JPEG_PIXEL = {
    0xC0,
    0xC1,
    0xC2,
    0xC3,
    0xC5,
    0xC6,
    0xC7,
    0xC9,
    0xCA,
    0xCB,
    0xCD,
    0xCE,
    0xCF,
    0xC4,
    0xCC,
    0xDB,
    0xDC,
    0xDD,
    0xDE,
    0xDF,
}
_PNG_ALLOWED = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"iCCP",
    b"sRGB",
    b"gAMA",
    b"cHRM",
    b"sBIT",
}
_APP_NAMES = (
    (b"Exif\x00", "EXIF"),
    (b"http://ns.adobe.com/xap", "XMP"),
    (b"http://ns.adobe.com/xmp", "XMP"),
    (b"Photoshop 3.0", "IPTC/Photoshop"),
    (b"JFIF", "JFIF"),
    (b"JFXX", "JFIF thumbnail"),
    (b"MPF\x00", "MPF (embedded images)"),
)


class UnreadableImage(ValueError):
    """The container cannot be walked, so what it carries cannot be vouched for."""


def _exif_has_gps(payload: bytes) -> bool:
    """True when an EXIF APP1 payload's first IFD points to a GPS IFD (tag 0x8825)."""
    tiff = payload[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return False
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", tiff[4:8])
    if offset + 2 > len(tiff):
        return False
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    for i in range(count):
        start = offset + 2 + 12 * i
        if start + 2 > len(tiff):
            break
        (tag,) = struct.unpack(order + "H", tiff[start : start + 2])
        if tag == 0x8825:
            return True
    return False


def jpeg_blocks(data: bytes) -> list[str]:
    """Names of every non-pixel, non-colour block of a JPEG (empty: clean)."""
    if data[:2] != JPEG_SOI:
        raise UnreadableImage("not a JPEG (no start-of-image marker)")
    found: list[str] = []
    pos, n = 2, len(data)
    while True:
        if pos >= n:
            raise UnreadableImage("the JPEG ends without an end-of-image marker")
        if data[pos] != 0xFF:
            raise UnreadableImage(f"JPEG structure broken at byte {pos}")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise UnreadableImage("the JPEG ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # end of image: anything after it is hidden payload
            if data[pos:].strip(b"\x00"):
                found.append(f"{n - pos} bytes after the end of the image")
            return found
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if pos + 2 > n:
            raise UnreadableImage("the JPEG ends inside a segment header")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        end = pos + length
        if length < 2 or end > n:
            raise UnreadableImage(f"JPEG segment 0xFF{marker:02X} runs past the end")
        payload = data[pos + 2 : end]
        pos = end
        if marker == 0xDA:  # start of scan: skip the entropy-coded data
            pos = _scan_end(data, pos)
            continue
        if marker in _JPEG_PIXEL:
            continue
        if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
            continue
        if marker == 0xEE and payload.startswith(b"Adobe"):
            continue
        if marker == 0xFE:
            found.append("comment (COM)")
        elif 0xE0 <= marker <= 0xEF:
            name = next((v for k, v in _APP_NAMES if payload.startswith(k)), None)
            name = name or f"APP{marker - 0xE0} block"
            if name == "EXIF" and _exif_has_gps(payload):
                name = "EXIF with GPS position"
            found.append(name)
        else:
            found.append(f"marker 0xFF{marker:02X}")


def _scan_end(data: bytes, pos: int) -> int:
    n = len(data)
    while True:
        i = data.find(b"\xff", pos)
        if i < 0 or i + 1 >= n:
            raise UnreadableImage("the JPEG's image data ends without an end marker")
        nxt = data[i + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos = i + 1 if nxt == 0xFF else i + 2
            continue
        return i


def png_blocks(data: bytes) -> list[str]:
    """Names of every non-pixel, non-colour chunk of a PNG (empty: clean)."""
    if not data.startswith(PNG_SIGNATURE):
        raise UnreadableImage("not a PNG (no signature)")
    found: list[str] = []
    pos, n = 8, len(data)
    while pos + 8 <= n:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > n:
            raise UnreadableImage(f"PNG chunk {ctype!r} runs past the end")
        if ctype not in _PNG_ALLOWED:
            found.append(f"{ctype.decode('latin-1')} chunk")
        pos = end
        if ctype == b"IEND":
            if data[pos:].strip(b"\x00"):
                found.append(f"{n - pos} bytes after the end of the image")
            return found
    raise UnreadableImage("the PNG ends without an IEND chunk")


def metadata_blocks(data: bytes) -> list[str]:
    """Every block of *data* that is neither pixels nor colour (JPEG or PNG; others refused)."""
    if data.startswith(JPEG_SOI):
        return jpeg_blocks(data)
    if data.startswith(PNG_SIGNATURE):
        return png_blocks(data)
    raise UnreadableImage("neither JPEG nor PNG; a release only carries those two containers")
