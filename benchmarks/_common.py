"""Small helpers shared by the benchmark scripts (timing, peak memory, result files)."""

from __future__ import annotations

import json
import os
import resource
import time
from contextlib import contextmanager
from pathlib import Path

OUT = Path(os.environ.get("DERMSET_BENCH_OUT", Path(__file__).resolve().parents[1] / "bench-out"))
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PG_URL = os.environ.get("DERMSET_TEST_POSTGRES_URL",
                        "postgresql://dermset:dermset@127.0.0.1:5432/dermset_test")


@contextmanager
def timer():
    box = {}
    t0 = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save(name: str, result: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return path
