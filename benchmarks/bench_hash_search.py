"""Near-duplicate search over 1,000,000 hashes: all pairs within the threshold, one core.

Workload: 1,000,000 63-bit hashes in the mix dermset stores (per image 2 global hashes queried
under the 8 symmetries of the square and 24 local hashes queried with their mirror image), so
38,462 images. Bits are drawn with the per-bit frequencies measured on the fingerprints of the
real originals in shared/data (real hashes are biased, which fills some buckets more than
uniform ones would), plus 5,000 planted near pairs at distances 0-5. The search returns every
pair of different images within distance 5 (the threshold resolve_duplicates uses); its answer
is checked against brute force on a sample of queries, and every planted pair must be found.

Peer, same run: imagededup's BK-tree (``imagededup.handlers.search.bktree``) on 100,000 of
imagededup's own 64-bit hash strings at its default PHash threshold (10). Building it and a
sample of queries are timed; the full all-pairs time is the sample's per-query time × 100,000
(the BK-tree answers each query independently) unless --peer-full is given.

Run: .venv/bin/python benchmarks/bench_hash_search.py [--n 1000000] [--peer-n 100000]
[--peer-sample 100] [--peer-full]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, peak_rss_mb, save
from dermset.ingest.dedup.candidates import GLOBAL, LOCAL, THRESHOLD, query_arrays, self_join
from dermset.ingest.dedup.fingerprint import HASH_BITS, fingerprint_image, popcount

PER_IMAGE_GLOBAL, PER_IMAGE_LOCAL = 2, 24


def bit_frequencies() -> tuple[np.ndarray, np.ndarray]:
    """Per-bit frequency of 1s in real global and local hashes (the shared originals)."""
    from PIL import Image

    g, lo = [], []
    paths = sorted((SHARED / "images" / "isic_uda1").glob("*.jpg"))[::3]
    for p in paths:
        im = Image.open(p)
        im.draft("RGB", (512, 512))
        im = im.convert("RGB")
        im.thumbnail((512, 512))
        fp = fingerprint_image(np.asarray(im))
        g += fp.global_hashes.tolist()
        lo += fp.local_hashes.tolist()

    def freq(h):
        h = np.array(h, dtype=np.uint64)
        return ((h[:, None] >> np.arange(HASH_BITS, dtype=np.uint64)) & np.uint64(1)).mean(0)

    return freq(g), freq(lo)


def draw(rng: np.random.Generator, n: int, freq: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=np.uint64)
    for b in range(HASH_BITS):
        out |= (rng.random(n) < freq[b]).astype(np.uint64) << np.uint64(b)
    return out


def workload(n: int, seed: int = 0, planted: int = 5000):
    rng = np.random.default_rng(seed)
    fg, fl = bit_frequencies()
    per = PER_IMAGE_GLOBAL + PER_IMAGE_LOCAL
    images = n // per
    kinds = np.tile(
        np.array([GLOBAL] * PER_IMAGE_GLOBAL + [LOCAL] * PER_IMAGE_LOCAL, np.int8), images
    )
    owners = np.repeat(np.arange(images, dtype=np.int64), per)
    hashes = np.empty(len(kinds), dtype=np.uint64)
    hashes[kinds == GLOBAL] = draw(rng, int((kinds == GLOBAL).sum()), fg)
    hashes[kinds == LOCAL] = draw(rng, int((kinds == LOCAL).sum()), fl)
    # planted near pairs: copy a hash of one image into another image, flipping 0-5 bits
    both = rng.choice(len(hashes), 2 * planted, replace=False)  # no hash is used twice
    src, dst = both[:planted], both[planted:]
    ok = (owners[src] != owners[dst]) & (kinds[src] == kinds[dst])
    src, dst = src[ok], dst[ok]
    for s, d in zip(src.tolist(), dst.tolist(), strict=True):
        h = int(hashes[s])
        for b in rng.choice(HASH_BITS, int(rng.integers(0, THRESHOLD + 1)), replace=False):
            h ^= 1 << int(b)
        hashes[d] = np.uint64(h)
    return hashes, owners, kinds, list(zip(owners[src].tolist(), owners[dst].tolist(), strict=True))


def pairs_of(qpos, hpos, owners_q, owners_h) -> set[tuple[int, int]]:
    a, b = owners_q[qpos], owners_h[hpos]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return set(zip(lo.tolist(), hi.tolist(), strict=True))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_dermset(n: int) -> dict:
    hashes, owners, kinds, planted = workload(n)
    log(f"workload: {len(hashes)} hashes; warming up the compiled search")
    self_join(hashes[:1000], owners[:1000], kinds[:1000], THRESHOLD)  # JIT, not timed
    t0 = time.perf_counter()
    qpos, hpos, _dist, _index = self_join(hashes, owners, kinds, THRESHOLD)
    seconds = time.perf_counter() - t0
    log(f"all pairs: {seconds:.1f} s")
    q, qo, qk, _ = query_arrays(hashes, owners, kinds)
    found = pairs_of(qpos, hpos, qo, owners)
    missed = [p for p in planted if tuple(sorted(p)) not in found]
    # exactness against brute force on a sample of query hashes
    rng = np.random.default_rng(1)
    sample = rng.choice(len(q), 2000, replace=False)
    brute = set()
    for i in sample.tolist():
        d = popcount(q[i] ^ hashes)
        hit = np.flatnonzero((d <= THRESHOLD) & (owners != qo[i]) & (kinds == qk[i]))
        brute |= {(i, int(j)) for j in hit}
    got = {
        (int(a), int(b))
        for a, b in zip(qpos.tolist(), hpos.tolist(), strict=True)
        if a in set(sample.tolist())
    }
    return {
        "hashes": len(hashes),
        "images": int(owners.max() + 1),
        "query_hashes_with_symmetries": len(q),
        "threshold": THRESHOLD,
        "seconds_build_and_all_pairs": round(seconds, 2),
        "hash_pairs_within_threshold": len(qpos),
        "image_pairs": len(found),
        "planted_pairs": len(planted),
        "planted_missed": len(missed),
        "brute_force_sample_queries": 2000,
        "brute_force_matches": len(brute),
        "index_agrees_with_brute_force": got == brute,
        "target_seconds": 60,
    }


def run_bktree(n: int, sample: int, full: bool, seed: int = 2) -> dict:
    from imagededup.handlers.search.bktree import BKTree
    from imagededup.methods.hashing import Hashing

    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, n, dtype=np.uint64) | (
        rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63)
    )
    hash_dict = {str(i): f"{int(h):016x}" for i, h in enumerate(hashes)}
    t0 = time.perf_counter()
    tree = BKTree(hash_dict, Hashing.hamming_distance)
    build = time.perf_counter() - t0
    keys = list(hash_dict) if full else [str(i) for i in rng.choice(n, sample, replace=False)]
    t0 = time.perf_counter()
    for k in keys:
        tree.search(hash_dict[k], tol=10)
    per_query = (time.perf_counter() - t0) / len(keys)
    return {
        "hashes": n,
        "threshold": 10,
        "build_s": round(build, 2),
        "queries_timed": len(keys),
        "ms_per_query": round(1000 * per_query, 2),
        "all_pairs_s": round(build + per_query * n, 1),
        "all_pairs_extrapolated_from_sample": not full,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--peer-n", type=int, default=100_000)
    ap.add_argument("--peer-sample", type=int, default=100)
    ap.add_argument("--peer-full", action="store_true")
    args = ap.parse_args()
    ours = run_dermset(args.n)
    peer = run_bktree(args.peer_n, args.peer_sample, args.peer_full)
    result = {
        "dermset_mih": ours,
        "imagededup_bktree": peer,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "note": "one process, one core; the search is compiled (numba) before timing",
    }
    save("hash_search", result)


if __name__ == "__main__":
    main()
