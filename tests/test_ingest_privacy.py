"""Privacy: stored files and the registry hold no GPS, no camera serial, no original file name."""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from sqlalchemy import select, text

from conftest import IMAGES
from dermset.ingest.exif_facts import EPOCH
from dermset.ingest.pipeline import ingest_paths
from dermset.ingest.scrub import scrub_jpeg
from dermset.registry.tables import Acquisition
from dermset.registry.tables import Image as ImageRow

NAME = "Jane_Doe_born_1957-03-02_MRN884211.jpg"
SERIAL = "SN-4471-XQ"
LENS_SERIAL = "LENS-99812"
OWNER = "Dr Hidden Owner"
XMP = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>Jane Doe, Ward 7</x:xmpmeta>"
COMMENT = b"patient Jane Doe"


def phone_jpeg(base: Image.Image) -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS, serials, owner, date, orientation, XMP, COM."""
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 13 Pro"
    exif[0x0112] = 6  # rotated: stored landscape, shown portrait
    exif[0x013B] = OWNER  # Artist
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:05:17 10:31:02"
    sub[0xA431] = SERIAL  # BodySerialNumber
    sub[0xA435] = LENS_SERIAL  # LensSerialNumber
    sub[0xA430] = OWNER  # CameraOwnerName
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 12.0, 30.5)
    gps[3] = "E"
    gps[4] = (16.0, 22.0, 7.25)
    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=90, exif=exif.tobytes(), comment=COMMENT)
    data = buf.getvalue()
    app1_xmp = b"\xff\xe1" + struct.pack(">H", len(XMP) + 2) + XMP
    return data[:2] + app1_xmp + data[2:]


@pytest.fixture
def upload(tmp_path: Path, shared_data) -> Path:
    base = Image.open(IMAGES / "isic_uda1" / "ISIC_0000001.jpg").convert("RGB")
    path = tmp_path / "in" / NAME
    path.parent.mkdir()
    path.write_bytes(phone_jpeg(base))
    return path


def _segments(data: bytes) -> list[int]:
    """The JPEG markers before the first scan."""
    out, pos = [], 2
    while pos < len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        out.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return out


def _registry_text(project) -> str:
    """Every value in every table, as text."""
    chunks = []
    with project.db.read() as s:
        names = [
            r[0] for r in s.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).all()
        ]
        for name in names:
            for row in s.execute(text(f'SELECT * FROM "{name}"')):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_stored_file_and_registry_hold_no_gps_serial_or_file_name(project, upload):
    original = upload.read_bytes()
    assert SERIAL.encode() in original and OWNER.encode() in original  # the bait is there
    summary = ingest_paths(project, [upload.parent], workers=1)
    assert summary.records == 1 and summary.quarantined == 0
    with project.db.read() as s:
        img = s.execute(select(ImageRow)).scalar_one()
        acq = s.get(Acquisition, img.id)
        s.expunge_all()
    stored = project.store.get(img.sha256)
    # the file: no APP1 (EXIF/XMP), no comment, nothing of the EXIF's strings
    assert 0xE1 not in _segments(stored) and 0xFE not in _segments(stored)
    for secret in (SERIAL, LENS_SERIAL, OWNER, "Jane", "iPhone", "2024:05:17"):
        assert secret.encode() not in stored, secret
    reopened = Image.open(io.BytesIO(stored))
    assert not reopened.getexif() and "exif" not in reopened.info
    # ... but the very same coefficients: the orientation was applied by a lossless transform,
    # so turning the stored file back gives exactly the pixels of the capture (767 rows are
    # not a whole number of 16-px blocks: the partial block row, at the rim, is trimmed)
    back = _turned_back(stored, 6)
    original = np.asarray(Image.open(upload))
    assert original.shape[0] - back.shape[0] < 16 and original.shape[1] == back.shape[1]
    kept = back.shape[0] - 1  # the new edge row's chroma is upsampled without its old neighbour
    assert np.array_equal(original[:kept], back[:kept]), "pixels changed in the scrub"
    # the registry: device without serial, shifted day, orientation recorded, no name
    assert acq.acquisition_device == "Apple iPhone 13 Pro"
    raw_day = (__import__("datetime").date(2024, 5, 17) - EPOCH).days
    assert acq.acquisition_day is not None and acq.acquisition_day != raw_day
    assert abs(acq.acquisition_day - raw_day) <= project.protocol.privacy.date_shift_days
    assert acq.orientation == 1  # applied: nothing left for a viewer to do
    assert (img.width, img.height) == reopened.size == back.shape[:2]
    dump = _registry_text(project)
    for secret in (NAME, "Jane_Doe", "MRN884211", SERIAL, LENS_SERIAL, OWNER, "48.0", "16.0"):
        assert secret not in dump, secret
    assert not re.search(r"2024-05-17|2024:05:17", dump)
    # the file name is recognisable only through its keyed hash
    assert img.filename_hmac == project.keys.filename(NAME)


def test_real_exif_orientation_image(project, shared_data):
    path = IMAGES / "isic_app_testdata" / "image_with_exif_including_orientation.jpg"
    ingest_paths(project, [path], workers=1)
    with project.db.read() as s:
        img = s.execute(select(ImageRow)).scalar_one()
        acq = s.get(Acquisition, img.id)
        s.expunge_all()
    stored = project.store.get(img.sha256)
    assert not Image.open(io.BytesIO(stored)).getexif()
    # as ISIC's own ingest test expects: width and height swapped, EXIF gone; the stored file
    # is upright itself (a lossless transform), so any viewer shows it as the camera meant
    assert (img.width, img.height) == (600, 450) and acq.orientation == 1
    assert Image.open(io.BytesIO(stored)).size == (600, 450)
    original = np.asarray(Image.open(path))
    assert np.array_equal(_turned_back(stored, 6), original)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(int)
    upright = np.asarray(Image.open(io.BytesIO(stored))).astype(int)
    assert np.abs(upright - shown).max() <= 4  # decoder rounding only


def _turned_back(stored: bytes, orientation: int) -> np.ndarray:
    """Undo a lossless orientation transform losslessly and decode."""
    import turbojpeg

    inverse = {6: turbojpeg.OP.ROT270, 8: turbojpeg.OP.ROT90, 3: turbojpeg.OP.ROT180}
    return np.asarray(Image.open(io.BytesIO(turbojpeg.transform(stored, op=inverse[orientation]))))


def test_scrub_keeps_icc_and_pixels_drops_trailer():
    im = Image.new("RGB", (64, 48), (180, 120, 100))
    icc = b"\x00" * 128 + b"fake-icc-profile"
    buf = io.BytesIO()
    im.save(buf, "JPEG", icc_profile=icc, comment=b"secret")
    data = buf.getvalue() + b"TRAILER-WITH-SECRET"
    out, key, removed = scrub_jpeg(data)
    assert b"fake-icc-profile" in out and b"secret" not in out and b"TRAILER" not in out
    assert Image.open(io.BytesIO(out)).info.get("icc_profile") == icc
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(buf)))
    assert "comment" in removed and any("after the image" in r for r in removed)
    # the pixel key ignores metadata: the same coded image gives the same key
    assert scrub_jpeg(buf.getvalue())[1] == key
