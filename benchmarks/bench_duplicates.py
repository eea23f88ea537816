"""Duplicate detection quality on real dermoscopy images, against imagededup's PHash (same run).

Images: the 347 real originals in shared/data (296 ISIC UDA-1, 51 HAM10000), the real derived
copies there (54 third-party 180×180 resizes, 1 ISIC thumbnail, 5 byte-identical copies and the
2 byte-identical pairs inside UDA-1), and copies this script makes of a sample of originals:
re-encoded (JPEG q 55-75), resized (35-60 %, aspect changed up to 15 %), cropped (80-90 % of
each side, anywhere), rotated by 90/180/270°, mirrored, brightness ×0.75/×1.25, colour-shifted
(channel gains 0.88-1.12) and slightly rotated (2-5°). Every copy is saved as a JPEG and decoded.

Ground truth: two images are a duplicate pair when they derive from one capture (an original,
its copies, and byte-identical files). The 6 HAM10000 same-lesion pairs are second captures:
negatives. Every other pair is a negative.

dermset: fingerprint (from the ≤512 px decode) → hash index (threshold 5) → pixel verification
(≤512 px, as resolve_duplicates loads stored files) → groups; predicted pairs are the pairs
inside a group. HAM images carry their real lesion ids, as a registry with their metadata
would, and candidates of one lesion are verified as resolve_duplicates verifies them (stricter
rigidity, no copy across zoom levels); the figures without lesion ids (pixels only) are
reported too.
imagededup: PHash at its default threshold (10) over the same ≤512 px arrays; its pairs as
returned, and also closed into groups.

Run: .venv/bin/python benchmarks/bench_duplicates.py [--per-kind N] (default 60 originals per
transformation kind; 0 = all 347).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, SHARED, save
from dermset.ingest.dedup.candidates import build_index, find_candidates
from dermset.ingest.dedup.fingerprint import fingerprint_image
from dermset.ingest.dedup.groups import components
from dermset.ingest.dedup.verify import verify_pair

IMAGES = SHARED / "images"
KINDS = ("reencode", "resize", "crop", "rot90", "flip", "brightness", "colour", "slight_rotation")


def load(path: Path | bytes, side: int = 1024) -> Image.Image:
    im = Image.open(io.BytesIO(path) if isinstance(path, bytes) else path)
    im.draft("RGB", (side, side))
    im = im.convert("RGB")
    im.thumbnail((side, side))
    return im


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_copy(im: Image.Image, kind: str, rng: random.Random) -> bytes:
    w, h = im.size
    if kind == "reencode":
        return jpeg(im, rng.randint(55, 75))
    if kind == "resize":
        s = rng.uniform(0.35, 0.6)
        a = rng.uniform(0.85, 1.15)
        return jpeg(im.resize((max(32, round(w * s * a)), max(32, round(h * s))), Image.BILINEAR))
    if kind == "crop":
        cw, ch = round(w * rng.uniform(0.8, 0.9)), round(h * rng.uniform(0.8, 0.9))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        return jpeg(im.crop((x, y, x + cw, y + ch)))
    if kind == "rot90":
        return jpeg(
            im.transpose(
                rng.choice(
                    [
                        Image.Transpose.ROTATE_90,
                        Image.Transpose.ROTATE_180,
                        Image.Transpose.ROTATE_270,
                    ]
                )
            )
        )
    if kind == "flip":
        return jpeg(
            im.transpose(
                rng.choice([Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM])
            )
        )
    if kind == "brightness":
        return jpeg(ImageEnhance.Brightness(im).enhance(rng.choice([0.75, 1.25])))
    if kind == "colour":
        a = np.asarray(im).astype(np.float32) * np.array(
            [rng.uniform(0.88, 1.12) for _ in range(3)], dtype=np.float32
        )
        return jpeg(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)))
    if kind == "slight_rotation":
        angle = rng.choice([-1, 1]) * rng.uniform(2, 5)
        return jpeg(im.rotate(angle, resample=Image.BILINEAR))
    raise ValueError(kind)


def ham_lesions() -> dict[str, str]:
    path = SHARED / "tables" / "ham10000" / "HAM10000_metadata.csv"
    with path.open(newline="") as fh:
        return {r["image_id"]: r["lesion_id"] for r in csv.DictReader(fh)}


def corpus(per_kind: int, seed: int = 0):
    """(name, full-size RGB array, capture id, lesion id or None, kind)."""
    rng = random.Random(seed)
    lesions = ham_lesions()
    originals = sorted((IMAGES / "isic_uda1").glob("*.jpg")) + sorted(
        (IMAGES / "ham10000_artefact_insertion" / "artefact_sources").glob("*.jpg")
    )
    items = []
    capture_of = {}
    for p in originals:
        capture_of[p.stem] = p.stem
    # byte-identical pairs inside UDA-1 are one capture
    capture_of["ISIC_0000280"] = "ISIC_0000279"
    capture_of["ISIC_0000512"] = "ISIC_0000477"
    loaded = {}
    for p in originals:
        im = load(p)
        loaded[p.stem] = im
        items.append((p.stem, np.asarray(im), capture_of[p.stem], lesions.get(p.stem), "original"))
    for p in sorted((IMAGES / "near_duplicates" / "amit_resized180").glob("*.jpg")):
        items.append(
            (f"amit180/{p.stem}", np.asarray(load(p)), capture_of[p.stem], None, "real_resize_180")
        )
    for p in sorted((IMAGES / "isic_app_testdata").glob("ISIC_*.jpg")):
        stem = p.stem.replace("_thumbnail_256", "")
        kind = "real_thumbnail" if "thumbnail" in p.stem else "real_exact"
        items.append((f"app/{p.stem}", np.asarray(load(p)), capture_of[stem], None, kind))
    names = sorted(loaded)
    for kind in KINDS:
        chosen = names if per_kind == 0 else rng.sample(names, min(per_kind, len(names)))
        for n in chosen:
            data = make_copy(loaded[n], kind, rng)
            items.append(
                (f"{kind}/{n}", np.asarray(load(data)), capture_of[n], lesions.get(n), kind)
            )
    return items


def reduced(arr: np.ndarray, side: int = 512) -> np.ndarray:
    im = Image.fromarray(arr)
    im.thumbnail((side, side))
    return np.asarray(im)


def truth_pairs(items) -> set[tuple[int, int]]:
    by_capture: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_capture.setdefault(it[2], []).append(i)
    return {p for g in by_capture.values() for p in itertools.combinations(sorted(g), 2)}


def scores(pred: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict:
    tp = len(pred & truth)
    return {
        "predicted_pairs": len(pred),
        "true_positives": tp,
        "precision": round(tp / len(pred), 4) if pred else 1.0,
        "recall": round(tp / len(truth), 4) if truth else 1.0,
    }


def closed(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return {p for g in components(pairs) for p in itertools.combinations(g, 2)}


def per_kind_recall(pred, truth, items) -> dict:
    out = {}
    for kind in ("real_exact", "real_thumbnail", "real_resize_180", *KINDS):
        rel = {
            (a, b)
            for a, b in truth
            if kind in (items[a][4], items[b][4]) and "original" in (items[a][4], items[b][4])
        }
        if rel:
            out[kind] = round(len(rel & pred) / len(rel), 4)
    return out


def run_dermset(items, small, truth):
    t0 = time.perf_counter()
    fps = [(i, fingerprint_image(a)) for i, a in enumerate(small)]
    t_fp = time.perf_counter() - t0
    t0 = time.perf_counter()
    index, kinds = build_index(fps)
    cands = find_candidates(index, kinds, fps)
    t_search = time.perf_counter() - t0
    t0 = time.perf_counter()
    pixel_ok, linked_ok, second = set(), set(), 0
    misfits: dict[str, list[float]] = {"copy": [], "second_capture": [], "different": []}
    for c in cands:
        a, b = small[c.a], small[c.b]  # resolve_duplicates loads stored files at 512 px
        v = verify_pair(a, b, mirrored_first=c.mirrored)
        if v.duplicate:
            pixel_ok.add((c.a, c.b))
        la, lb = items[c.a][3], items[c.b][3]
        label = (
            "copy"
            if (c.a, c.b) in truth
            else "second_capture"
            if la is not None and la == lb
            else "different"
        )
        if v.misfit_px is not None:
            misfits[label].append(v.misfit_px)
        if la is not None and la == lb:
            second += 1
            v = verify_pair(a, b, mirrored_first=c.mirrored, same_lesion=True)
        if v.duplicate:
            linked_ok.add((c.a, c.b))
    t_verify = time.perf_counter() - t0
    timing = {
        "fingerprint_ms_per_image": round(1000 * t_fp / len(items), 2),
        "index_and_search_s": round(t_search, 3),
        "candidates": len(cands),
        "verify_ms_per_candidate": round(1000 * t_verify / max(1, len(cands)), 1),
        "same_lesion_candidates_held_to_the_stricter_limit": second,
    }
    return closed(linked_ok), closed(pixel_ok), cands, timing, misfits


def misfit_summary(misfits: dict[str, list[float]]) -> dict:
    """The rigidity misfit of verified candidates by truth: the calibration of MAX_MISFIT_PX."""
    out = {}
    for label, values in misfits.items():
        v = np.array(values)
        out[label] = (
            {
                "n": len(v),
                **{f"p{q}": round(float(np.percentile(v, q)), 3) for q in (5, 50, 95)},
                "min": round(float(v.min()), 3),
                "max": round(float(v.max()), 3),
            }
            if len(v)
            else {"n": 0}
        )
    return out


def misfit_figure(misfits: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dermset.ingest.dedup.verify import MAX_MISFIT_PX, MAX_MISFIT_SAME_LESION_PX

    fig, ax = plt.subplots(figsize=(7, 3.6))
    bins = np.logspace(np.log10(0.01), np.log10(10), 50)
    for label, colour in (("copy", "tab:blue"), ("second_capture", "tab:red")):
        v = np.clip(np.array(misfits[label]), 0.011, 9.9)
        if len(v):
            ax.hist(
                v,
                bins=bins,
                alpha=0.6,
                color=colour,
                label=f"{label.replace('_', ' ')} (n={len(v)})",
            )
    ax.axvline(MAX_MISFIT_PX, color="k", ls="--", lw=1, label=f"limit {MAX_MISFIT_PX} px")
    ax.axvline(
        MAX_MISFIT_SAME_LESION_PX,
        color="k",
        ls=":",
        lw=1,
        label=f"same lesion {MAX_MISFIT_SAME_LESION_PX} px",
    )
    ax.set_xscale("log")
    ax.set_xlabel("rigidity misfit: 90th percentile of patch shifts after one affine map (px)")
    ax.set_ylabel("candidate pairs")
    ax.set_title("Rigidity misfit of verified candidate pairs, by truth")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_imagededup(small):
    from imagededup.methods import PHash

    phash = PHash(verbose=False)
    t0 = time.perf_counter()
    enc = {str(i): phash.encode_image(image_array=a) for i, a in enumerate(small)}
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    dups = phash.find_duplicates(
        encoding_map=enc, max_distance_threshold=10, num_enc_workers=1, num_dist_workers=1
    )
    t_search = time.perf_counter() - t0
    pairs = {tuple(sorted((int(k), int(v)))) for k, vs in dups.items() for v in vs}
    return pairs, {
        "encode_ms_per_image": round(1000 * t_enc / len(small), 2),
        "search_s": round(t_search, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-kind", type=int, default=60)
    args = ap.parse_args()
    items = corpus(args.per_kind)
    small = [reduced(it[1]) for it in items]
    truth = truth_pairs(items)
    ours, ours_pixels, cands, timing, misfits = run_dermset(items, small, truth)
    OUT.mkdir(parents=True, exist_ok=True)
    misfit_figure(misfits, OUT / "duplicates_misfit.png")
    theirs, their_timing = run_imagededup(small)
    cand_pairs = {(c.a, c.b) for c in cands}
    result = {
        "images": len(items),
        "originals": sum(it[4] == "original" for it in items),
        "true_pairs": len(truth),
        "negative_pairs": len(items) * (len(items) - 1) // 2 - len(truth),
        "dermset": {
            **scores(ours, truth),
            "per_kind_recall": per_kind_recall(ours, truth, items),
            **timing,
        },
        "dermset_pixels_only": {
            **scores(ours_pixels, truth),
            "per_kind_recall": per_kind_recall(ours_pixels, truth, items),
        },
        "dermset_candidates_recall": scores(closed(cand_pairs), truth)["recall"],
        "rigidity_misfit_px_by_truth": misfit_summary(misfits),
        "imagededup_phash_default": {
            **scores(theirs, truth),
            "per_kind_recall": per_kind_recall(theirs, truth, items),
            **their_timing,
        },
        "imagededup_phash_default_grouped": scores(closed(theirs), truth),
        "targets": {"precision": 0.99, "recall": 0.97},
    }
    save("duplicates", result)


if __name__ == "__main__":
    main()
