"""One source file made ready for the registry, in a worker: everything that needs no database.

:func:`prepare` reads the file, decodes it once (decode.py), moves the acquisition facts out of
its EXIF (exif_facts.py), scrubs it (scrub.py), measures the SOP checks (quality.py) and, when
the duplicate package is installed, computes its perceptual fingerprint on the small image. It
never raises for bad input: the result carries the reason instead, so a batch always goes on.
Nothing here knows the project secret; keyed hashes are made by the pipeline.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

import cv2

from dermset.ingest.decode import DecodeError, decode
from dermset.ingest.dedup import fingerprint_image  # loaded with the module: workers preload it
from dermset.ingest.exif_facts import read_facts
from dermset.ingest.quality import Measurements, measure
from dermset.ingest.scrub import scrub

cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would fight them

#: A dermoscopic capture is a few MB; a file this large is not one (and would exhaust a worker).
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass
class Prepared:
    path: str
    name: str
    source_sha256: str | None = None
    #: (message, rule) when the file cannot be taken in
    problem: tuple[str, str] | None = None
    data: bytes | None = None  # the scrubbed file
    sha256: str | None = None
    pixel_sha256: str | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int = 1  # still to apply to the stored pixels
    #: mean of the decoded pixels (0-255), the same whichever format holds them
    pixel_mean: float | None = None
    removed: list[str] = field(default_factory=list)
    device: str | None = None
    capture_day: int | None = None
    measurements: Measurements | None = None
    fingerprint: Any = None
    seconds: float = 0.0
    #: seconds per stage (read, decode, scrub, measure, fingerprint), for the benchmarks
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None


def prepare(path: str) -> Prepared:
    t0 = time.perf_counter()
    out = Prepared(path=path, name=os.path.basename(path))
    clock = [t0]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        out.timings[stage] = now - clock[0]
        clock[0] = now

    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise DecodeError(
                f"the file is {size / 2**20:.0f} MB, larger than any dermoscopic capture "
                f"(limit {MAX_FILE_BYTES // 2**20} MB)",
                "too_large",
            )
        with open(path, "rb") as fh:
            data = fh.read()
        out.source_sha256 = hashlib.sha256(data).hexdigest()
        lap("read")
        decoded = decode(data)
        facts = read_facts(decoded.exif)
        lap("decode")
        scrubbed = scrub(data, decoded)
        del data
        lap("scrub")
        small = decoded.small()
        out.pixel_mean = float(small.mean())
        out.measurements = measure(decoded, small)
        lap("measure")
        out.fingerprint = fingerprint_image(small)
        lap("fingerprint")
        out.data = scrubbed.data
        out.sha256 = scrubbed.sha256
        out.pixel_sha256 = scrubbed.pixel_sha256
        out.media_type = scrubbed.media_type
        out.width, out.height = scrubbed.size or (decoded.width, decoded.height)
        out.orientation = scrubbed.orientation
        out.removed = scrubbed.removed
        out.device, out.capture_day = facts.device, facts.capture_day
    except DecodeError as exc:
        out.problem = (str(exc), exc.rule)
    except OSError as exc:
        out.problem = (f"cannot read the file: {exc.strerror or exc}", "unreadable")
    except Exception as exc:  # an unforeseen decoder failure quarantines one file, not the batch
        out.problem = (f"could not be processed: {type(exc).__name__}: {exc}", "internal_error")
    if out.problem is not None:
        out.data = None
    out.seconds = time.perf_counter() - t0
    return out
