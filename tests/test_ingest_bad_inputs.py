"""Bad input: a corpus made here; each file quarantined or converted, and the batch goes on."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from conftest import IMAGES
from dermset.ingest.decode import DecodeError, decode, to_rgb8
from dermset.ingest.pipeline import ingest_paths
from dermset.registry.fsck import fsck
from dermset.registry.tables import Image as ImageRow
from dermset.registry.tables import Quarantine

REAL = IMAGES / "isic_uda1" / "ISIC_0000000.jpg"


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_bomb(side: int = 15000) -> bytes:
    """A valid PNG of side×side black pixels: ~225 MP from a few hundred KB."""
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * side
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )


def jpeg_with_app1_blocks(base: bytes, total: int = 1 << 20) -> bytes:
    """A JPEG carrying ~1 MB of EXIF-like APP1 segments (64 KB is a segment's limit)."""
    payload = b"Exif\x00\x00" + b"\xab" * 65000
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return base[:2] + seg * (total // len(seg) + 1) + base[2:]


def png_with_exif(im: Image.Image, size: int = 1 << 20) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    data = buf.getvalue()
    exif = b"MM\x00*" + b"\x00" * (size - 4)
    end = data.index(b"IDAT") - 4
    return data[:end] + _chunk(b"eXIf", exif) + data[end:]


@pytest.fixture(scope="module")
def real_rgb(shared_data) -> Image.Image:
    return Image.open(REAL).convert("RGB").resize((640, 480))


@pytest.fixture
def corpus(tmp_path: Path, real_rgb: Image.Image) -> dict[str, str]:
    """name -> expected outcome ('quarantine:RULE' or 'converted')."""
    d = tmp_path / "upload"
    d.mkdir()
    real = REAL.read_bytes()
    buf = io.BytesIO()
    real_rgb.save(buf, "JPEG", quality=92)
    small_jpeg = buf.getvalue()
    files: dict[str, tuple[bytes, str]] = {
        "truncated.jpg": (real[: len(real) // 2], "quarantine:truncated"),
        "empty.jpg": (b"", "quarantine:empty_file"),
        "notes.jpg": (b"Patient seen 3 May, lesion on back\n" * 20, "quarantine:not_an_image"),
        "bomb.png": (png_bomb(), "quarantine:decompression_bomb"),
        "pixel.png": (
            _save(Image.new("RGB", (1, 1), (200, 120, 90)), "PNG"),
            "quarantine:too_small",
        ),
        "random.jpg": (b"\xff\xd8\xff\xe0" + np.random.default_rng(1).bytes(5000), "quarantine"),
        "cmyk.jpg": (_save(real_rgb.convert("CMYK"), "JPEG", quality=92), "converted"),
        "gray16.png": (_save(_gray16(real_rgb), "PNG"), "converted"),
        "palette.png": (_save(real_rgb.quantize(64), "PNG"), "converted"),
        "big_exif.jpg": (jpeg_with_app1_blocks(small_jpeg), "converted"),
        "big_exif.png": (png_with_exif(real_rgb.rotate(90, expand=True)), "converted"),
        "gray16.tif": (_save(_gray16(real_rgb.rotate(180)), "TIFF"), "converted"),
        "good.jpg": (real, "converted"),
    }
    for name, (data, _) in files.items():
        (d / name).write_bytes(data)
    return {name: expected for name, (_, expected) in files.items()}


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _gray16(im: Image.Image) -> Image.Image:
    g = np.asarray(im.convert("L")).astype(np.uint16) * 257  # full 16-bit range
    return Image.fromarray(g)


def test_bad_inputs_are_quarantined_or_converted_and_the_batch_goes_on(project, corpus, tmp_path):
    summary = ingest_paths(project, [tmp_path / "upload"], workers=1)
    quarantined = [n for n, e in corpus.items() if e.startswith("quarantine")]
    converted = [n for n, e in corpus.items() if e == "converted"]
    assert summary.quarantined == len(quarantined)
    assert summary.records == len(corpus)
    shown = {p.file: p for p in summary.problems}
    assert set(shown) == set(quarantined)
    for name, expected in corpus.items():
        if ":" in expected:
            assert shown[name].rule == expected.split(":")[1], (name, shown[name])
    # each message says what is wrong in words a clinician can act on
    assert "truncated" in shown["truncated.jpg"].message
    assert "0 bytes" in shown["empty.jpg"].message
    assert "text" in shown["notes.jpg"].message
    assert "15000×15000" in shown["bomb.png"].message
    assert "1×1" in shown["pixel.png"].message
    with project.db.read() as s:
        n_images = len(list(s.execute(select(ImageRow.id)).scalars()))
        entries = list(s.execute(select(Quarantine.source_hmac, Quarantine.reason)))
    assert n_images == len(converted)
    assert len(entries) == len(quarantined)
    # the quarantine list never holds a file name, only its keyed hash
    for source_hmac, reason in entries:
        assert source_hmac in {project.keys.filename(n) for n in quarantined}
        for name in corpus:
            assert name not in reason
    report = fsck(project)
    assert report.ok, report.to_dict()
    assert report.files_checked == len(converted)


def test_conversions_are_correct(project, corpus, tmp_path, real_rgb):
    ingest_paths(project, [tmp_path / "upload"], workers=1)
    with project.db.read() as s:
        rows = {r.filename_hmac: r for r in s.execute(select(ImageRow)).scalars()}
        s.expunge_all()
    by_name = {n: rows[project.keys.filename(n)] for n in corpus if corpus[n] == "converted"}
    # 16-bit grey is rescaled, not clipped (Pillow's own conversion turns it almost white)
    g16 = by_name["gray16.png"]
    stored = Image.open(io.BytesIO(project.store.get(g16.sha256)))
    assert stored.mode.startswith("I")  # the stored file keeps the 16-bit pixels
    rgb = to_rgb8(stored)
    expected = np.asarray(real_rgb.convert("L"))
    assert np.abs(rgb[:, :, 0].astype(int) - expected).max() <= 1
    # CMYK is stored as it came (not re-encoded), and analysed as RGB of the right size
    cmyk = by_name["cmyk.jpg"]
    assert Image.open(io.BytesIO(project.store.get(cmyk.sha256))).mode == "CMYK"
    assert (cmyk.width, cmyk.height) == (640, 480)
    # 1 MB of EXIF is dropped without touching the pixels
    big = by_name["big_exif.jpg"]
    data = project.store.get(big.sha256)
    assert b"\xff\xe1" not in data[:4096] and len(data) < 200_000
    assert big.quality_verdict in ("pass", "warn", "fail")
    png = project.store.get(by_name["big_exif.png"].sha256)
    assert b"eXIf" not in png
    # TIFF is stored as a lossless PNG of the same pixels
    tif = by_name["gray16.tif"]
    assert tif.media_type == "image/png"
    back = np.asarray(Image.open(io.BytesIO(project.store.get(tif.sha256))))
    assert np.array_equal(back, np.asarray(_gray16(real_rgb.rotate(180))))


def test_heic_from_a_phone_is_decoded_and_stored_without_its_exif(project, tmp_path, real_rgb):
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15"
    exif[0xA431] = "SERIAL-DO-NOT-KEEP"
    path = tmp_path / "IMG_0042.HEIC"
    real_rgb.save(path, "HEIF", quality=95, exif=exif.tobytes())
    summary = ingest_paths(project, [path], workers=1)
    assert summary.records == 1 and summary.quarantined == 0
    with project.db.read() as s:
        img = s.execute(select(ImageRow)).scalar_one()
        device = img.acquisition.acquisition_device
        s.expunge_all()
    assert img.media_type == "image/png" and (img.width, img.height) == (640, 480)
    data = project.store.get(img.sha256)
    assert b"SERIAL-DO-NOT-KEEP" not in data and b"Exif" not in data
    assert device == "Apple iPhone 15"


def test_decode_refuses_without_decoding():
    with pytest.raises(DecodeError) as exc:
        decode(png_bomb(12000))
    assert exc.value.rule == "decompression_bomb"
    with pytest.raises(DecodeError) as exc:
        decode(b"GIF89a" + b"\x00" * 100)
    assert exc.value.rule == "unsupported_format"
