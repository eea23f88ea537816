"""Privacy scrub: the stored file keeps pixels and colour profile, nothing else.

A JPEG is never re-encoded: its segments are copied verbatim except the metadata ones (EXIF,
XMP, IPTC, maker notes and embedded thumbnails in APPn, comments, data after the end marker), so
the stored pixels are bit-identical to the capture. The ICC profile (APP2 ``ICC_PROFILE``) and
Adobe's APP14 (it tells a decoder how to read the colour channels) stay. The EXIF orientation is
applied by a lossless transform (libjpeg-turbo's, which moves DCT coefficients without
re-encoding them), so the stored file shows the lesion as the camera meant it without carrying an
orientation tag. When the image's size is not a whole number of JPEG blocks, the partial blocks at
the edge that would land at the top or left cannot move losslessly and are trimmed (at most 15
pixels of the dermatoscope's dark rim); ``removed`` says so.

A PNG keeps only its critical chunks and the colour chunks (iCCP, sRGB, gAMA, cHRM, sBIT, tRNS),
again byte for byte. TIFF and HEIF containers carry metadata in structures that cannot be cut
out safely, so their decoded pixels are stored as a lossless PNG (same pixels, same profile,
orientation applied).
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass, field

from dermset.ingest.decode import Decoded, DecodeError

_KEEP_PNG = {
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
_PNG_NAMES = {
    b"eXIf": "EXIF",
    b"tEXt": "text",
    b"zTXt": "text",
    b"iTXt": "text/XMP",
    b"tIME": "time",
}
#: JPEG markers that define the decoded pixels
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_KEEP_JPEG = _SOF | {0xC4, 0xCC, 0xDB, 0xDD, 0xDC}
_APP_NAMES = {
    b"Exif\x00": "EXIF",
    b"http://ns.adobe.com/xap": "XMP",
    b"http://ns.adobe.com/xmp": "XMP",
    b"Photoshop 3.0": "IPTC",
    b"MPF\x00": "MPF",
    b"JFIF": "JFIF",
    b"JFXX": "JFIF thumbnail",
}


class ScrubError(DecodeError):
    """The file's structure is broken where the scrub has to cut it."""


@dataclass
class Scrubbed:
    data: bytes
    media_type: str
    #: the EXIF orientation still to be applied to the stored pixels (1: none)
    orientation: int
    #: identifies the decoded pixels (JPEG: the coded data they are decoded from)
    pixel_sha256: str
    removed: list[str] = field(default_factory=list)
    #: SHA-256 of ``data`` (its content key in the store)
    sha256: str = ""
    #: (width, height) of the stored file when it differs from the decoded size (trimmed blocks)
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.data).hexdigest()


def scrub(data: bytes, decoded: Decoded) -> Scrubbed:
    if decoded.format == "JPEG":
        out, key, removed, sha = _scrub_jpeg(data, decoded.orientation)
        if decoded.orientation != 1:
            out, note = orient_jpeg(out, decoded.orientation)
            out, key, _, sha = _scrub_jpeg(out, 1)  # drops the JFIF header libjpeg adds
            size = _jpeg_size(out)
            return Scrubbed(out, "image/jpeg", 1, key, [*removed, note], sha,
                            None if size == (decoded.width, decoded.height) else size)
        return Scrubbed(out, "image/jpeg", 1, key, removed, sha)
    if decoded.format == "PNG":
        out, removed = scrub_png(data)
        assert decoded.pixel_sha256 is not None
        return Scrubbed(out, "image/png", decoded.orientation, decoded.pixel_sha256, removed)
    # TIFF, HEIF: lossless PNG of the oriented full-size pixels
    assert decoded.full is not None and decoded.pixel_sha256 is not None
    buf = io.BytesIO()
    params = {"compress_level": 4}
    if decoded.icc_profile:
        params["icc_profile"] = decoded.icc_profile
    im = decoded.full
    if im.mode == "I" and im.getextrema()[1] <= 65535:
        im = im.convert("I;16")
    im.save(buf, "PNG", **params)
    return Scrubbed(
        buf.getvalue(), "image/png", 1, decoded.pixel_sha256, [f"{decoded.format} container"]
    )


#: EXIF orientation -> the lossless transform that shows the image upright
_ORIENT_OPS = {
    2: "HFLIP", 3: "ROT180", 4: "VFLIP", 5: "TRANSPOSE", 6: "ROT90", 7: "TRANSVERSE", 8: "ROT270",
}


def orient_jpeg(data: bytes, orientation: int) -> tuple[bytes, str]:
    """Apply an EXIF orientation to a JPEG losslessly; returns (JPEG, what was done).

    libjpeg-turbo (through the ``turbojpeg`` bindings) does the transform: written ourselves it
    would mean re-implementing Huffman decoding and coding of the coefficients.
    """
    import turbojpeg

    op = getattr(turbojpeg.OP, _ORIENT_OPS[orientation])
    try:
        out = turbojpeg.transform(data, op=op, perfect=True)
        note = f"EXIF orientation {orientation} (applied losslessly)"
    except Exception:  # the size is not a whole number of blocks: trim the partial ones
        try:
            out = turbojpeg.transform(data, op=op, perfect=False, trim=True)
        except Exception as exc:  # libjpeg-turbo raises plain RuntimeErrors
            raise ScrubError(f"cannot apply the EXIF orientation losslessly ({exc})",
                             "corrupt") from None
        note = (f"EXIF orientation {orientation} (applied losslessly; partial edge blocks "
                "trimmed)")
    return out, note


def _jpeg_size(data: bytes) -> tuple[int, int]:
    import turbojpeg

    header = turbojpeg.decompress_header(data)
    return int(header["width"]), int(header["height"])


def scrub_jpeg(data: bytes, orientation: int = 1) -> tuple[bytes, str, list[str]]:
    """(scrubbed JPEG, key of its coded data, names of what was removed)."""
    out, key, removed, _ = _scrub_jpeg(data, orientation)
    return out, key, removed


def _scrub_jpeg(data: bytes, orientation: int) -> tuple[bytes, str, list[str], str]:
    """Also returns the SHA-256 of the output: without an ICC profile the output *is* the coded
    data, so one hash serves both (hashing a 12-MP capture costs ~3 ms a pass)."""
    n = len(data)
    if data[:2] != b"\xff\xd8":
        raise ScrubError("not a JPEG stream (no start marker)", "corrupt")
    out = [b"\xff\xd8"]
    icc: list[int] = []  # indices in out of ICC segments (kept, but not pixel-defining)
    removed: list[str] = []
    pos = 2
    while True:
        # find the next marker (fill bytes 0xFF may precede it)
        if pos >= n:
            raise ScrubError("the JPEG ends without an end-of-image marker", "truncated")
        if data[pos] != 0xFF:
            raise ScrubError(f"JPEG structure broken at byte {pos}", "corrupt")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise ScrubError("the JPEG ends inside a marker", "truncated")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            out.append(b"\xff\xd9")
            if pos < n and data[pos:].strip(b"\x00"):
                removed.append(f"{n - pos} bytes after the image")
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # standalone markers outside a scan carry nothing
        if pos + 2 > n:
            raise ScrubError("the JPEG ends inside a segment header", "truncated")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        end = pos + length
        if length < 2 or end > n:
            raise ScrubError(f"JPEG segment 0xFF{marker:02X} runs past the end", "truncated")
        segment = b"\xff" + bytes([marker]) + data[pos:end]
        payload = data[pos + 2 : end]
        pos = end
        if marker == 0xDA:  # SOS: header, then entropy-coded data up to the next real marker
            scan_end = _scan_end(data, pos)
            segment += data[pos:scan_end]
            pos = scan_end
            out.append(segment)
            continue
        if marker in _KEEP_JPEG:
            out.append(segment)
        elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
            icc.append(len(out))  # colour profile: kept, but not part of the pixel identity
            out.append(segment)
        elif marker == 0xEE and payload.startswith(b"Adobe"):
            out.append(segment)  # the colour transform flag changes the decoded pixels
        elif marker == 0xFE:
            removed.append("comment")
        elif 0xE0 <= marker <= 0xEF:
            name = next((v for k, v in _APP_NAMES.items() if payload.startswith(k)), None)
            removed.append(name or f"APP{marker - 0xE0}")
        else:
            removed.append(f"marker 0xFF{marker:02X}")
    result = b"".join(out)
    sha = hashlib.sha256(result).hexdigest()
    if icc:
        coded = b"".join(seg for i, seg in enumerate(out) if i not in set(icc))
        coded_sha = hashlib.sha256(coded).hexdigest()
    else:
        coded_sha = sha
    key = hashlib.sha256(f"jpeg-coded:{orientation}:{coded_sha}".encode()).hexdigest()
    return result, key, sorted(set(removed), key=removed.index), sha


#: a marker inside entropy-coded data: 0xFF not followed by a stuffed zero, an RSTn or a fill byte
_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")


def _scan_end(data: bytes, pos: int) -> int:
    """Position of the first marker after entropy-coded data (stuffed 0xFF00 and RSTn skipped).

    One regular-expression search in C: a byte loop in Python cost 30 ms on a 12-MP capture
    (tens of thousands of stuffed bytes), this costs under 1 ms.
    """
    m = _MARKER.search(data, pos)
    if m is None:
        raise ScrubError("the JPEG's image data ends without an end marker", "truncated")
    return m.start()


def scrub_png(data: bytes) -> tuple[bytes, list[str]]:
    """(PNG with only critical and colour chunks, names of what was removed)."""
    out = [data[:8]]
    removed: list[str] = []
    pos, n = 8, len(data)
    while pos + 8 <= n:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > n:
            raise ScrubError(f"PNG chunk {ctype!r} runs past the end", "truncated")
        if ctype in _KEEP_PNG:
            out.append(data[pos:end])
        else:
            removed.append(_PNG_NAMES.get(ctype, ctype.decode("latin-1")))
        pos = end
        if ctype == b"IEND":
            break
    else:
        raise ScrubError("the PNG ends without an IEND chunk", "truncated")
    return b"".join(out), sorted(set(removed), key=removed.index)
