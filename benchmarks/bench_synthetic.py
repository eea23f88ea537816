"""Time to generate the demo's synthetic cohort, against the cost of only writing its files.

Target (the demo brief): the default cohort (300 records, 1200x900) in well under a minute on one
core. The floor measured in the same run is encoding and writing the same number of JPEGs of the
same size — what any generator must pay — so the ratio says what rendering costs on top.
Times are CPU seconds of the generating process (with one worker that is all the work), because
wall time on a shared machine measures the neighbours; wall seconds are reported as well.
Run: `python benchmarks/bench_synthetic.py [--size N] [--workers W]`.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import peak_rss_mb, save
from dermset.synthetic import DEFAULT_IMAGE_SIZE, DEFAULT_SIZE, generate_cohort


def encode_floor(n: int, size: tuple[int, int], folder: Path) -> float:
    """CPU seconds to JPEG-encode and write *n* camera-like images (fresh noise each time)."""
    rng = np.random.default_rng(0)
    w, h = size
    base = np.linspace(60, 200, w, dtype=np.float32)[None, :, None].repeat(h, 0).repeat(3, 2)
    t0 = time.process_time()
    for i in range(n):
        noisy = base + rng.integers(-8, 9, (h, w, 1), dtype=np.int8)
        buf = io.BytesIO()
        Image.fromarray(noisy.astype(np.uint8)).save(buf, format="JPEG", quality=92)
        (folder / f"{i}.jpg").write_bytes(buf.getvalue())
    return time.process_time() - t0


def run(size: int, workers: int, root: Path) -> dict:
    out = root / f"cohort-{workers}"
    t0, c0 = time.perf_counter(), time.process_time()
    m = generate_cohort(out, size=size, seed=0, workers=workers)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    shutil.rmtree(out)
    return {
        "workers": workers,
        "seconds": round(wall, 2),
        "main_process_cpu_seconds": round(cpu, 2),  # all the work when workers == 1
        "records_per_second": round(m.counts["records"] / wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--workers", type=int, default=2, help="also time this many processes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "floor").mkdir()
        floor = encode_floor(args.size, DEFAULT_IMAGE_SIZE, root / "floor")
        single = run(args.size, 1, root)
        runs = [single]
        if args.workers > 1:
            runs.append(run(args.size, args.workers, root))
    result = {
        "benchmark": "synthetic cohort generation",
        "records": args.size,
        "image_size": list(DEFAULT_IMAGE_SIZE),
        "encode_only_cpu_seconds": round(floor, 2),
        "runs": runs,
        # CPU seconds, not wall time: on a shared machine wall time measures the neighbours
        "one_core_cpu_seconds": single["main_process_cpu_seconds"],
        "one_core_vs_encode_only": round(single["main_process_cpu_seconds"] / floor, 2),
        "target_one_core_seconds": 60,
        "meets_target": single["main_process_cpu_seconds"] < 60,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    save("synthetic", result)


if __name__ == "__main__":
    main()
