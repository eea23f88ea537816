"""Calibrate the SOP checks on real dermoscopy images and degraded copies of them.

    python benchmarks/calibrate_sop.py [--data ../shared/data] [--out bench-out/calibration]
                                       [--limit N] [--workers 2]

Every original in ``images/isic_uda1`` and ``images/ham10000_artefact_insertion`` is measured as
it is (the negatives) and after each degradation (the positives of the check that should catch
it): Gaussian blur of 1-8 px (at full resolution), under- and over-exposure, off-centre crops
and colour casts. Each copy is JPEG-encoded at quality 95 and goes through the real decode and
measure code of the pipeline. The script prints each check's ROC AUC, the rates at the chosen
warn/fail limits, and the focus measure at each DCT decode scale (1/1 … 1/8), and writes the
figures used by docs/sop-calibration.md plus a JSON of all numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dermset.ingest import quality  # noqa: E402
from dermset.ingest.decode import decode  # noqa: E402
from dermset.ingest.fov import find_field, find_lesion  # noqa: E402
from dermset.protocol import Protocol  # noqa: E402

DEGRADATIONS = {
    "blur1": ("sharpness", lambda a: _blur(a, 1.0)),
    "blur2": ("sharpness", lambda a: _blur(a, 2.0)),
    "blur4": ("sharpness", lambda a: _blur(a, 4.0)),
    "blur8": ("sharpness", lambda a: _blur(a, 8.0)),
    "under_0.45": ("underexposure", lambda a: _gain(a, 0.45)),
    "under_0.3": ("underexposure", lambda a: _gain(a, 0.3)),
    "over_1.6": ("overexposure", lambda a: _gain(a, 1.6)),
    "over_2.2": ("overexposure", lambda a: _gain(a, 2.2)),
    "offcentre_tl": ("lesion_offset", lambda a: _crop(a, 0)),
    "offcentre_br": ("lesion_offset", lambda a: _crop(a, 1)),
    "cast_blue": ("colour_cast", lambda a: _tint(a, (0.8, 0.95, 1.3))),
    "cast_green": ("colour_cast", lambda a: _tint(a, (0.85, 1.2, 0.9))),
    "cast_magenta": ("colour_cast", lambda a: _tint(a, (1.15, 0.8, 1.15))),
}
#: exposure and clipping share their positives
ALSO = {
    "over_1.6": ["clipped_fraction"],
    "over_2.2": ["clipped_fraction"],
    "offcentre_tl": ["lesion_edge_contact"],
    "offcentre_br": ["lesion_edge_contact"],
}
SCALES = (1, 2, 4, 8)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), sigma)


def _gain(a: np.ndarray, k: float) -> np.ndarray:
    return np.clip(a.astype(np.float32) * k, 0, 255).astype(np.uint8)


def _tint(a: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return np.clip(a.astype(np.float32) * np.array(gains, np.float32), 0, 255).astype(np.uint8)


def _crop(a: np.ndarray, corner: int) -> np.ndarray:
    """A 60 % window in a corner: the lesion (centred in the original) moves off-centre."""
    h, w = a.shape[:2]
    ch, cw = int(h * 0.6), int(w * 0.6)
    return a[:ch, :cw] if corner == 0 else a[h - ch :, w - cw :]


def _jpeg(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _skin_chroma(data: bytes) -> list[float] | None:
    small = decode(data).small()
    fld = find_field(small)
    les = find_lesion(small, fld)
    skin = fld.mask.astype(np.uint8)
    if les is not None:
        grown = cv2.dilate(les.mask.astype(np.uint8), np.ones((9, 9), np.uint8))
        skin = cv2.bitwise_and(skin, 1 - grown)
    rgb = quality.skin_colour(small, skin)
    return None if rgb is None else list(rgb / rgb.sum())


def measure_one(path: str) -> dict:
    """All measurements of one original and its degraded copies."""
    data = Path(path).read_bytes()
    full = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    out = {"file": Path(path).name, "size": list(full.shape[:2]), "copies": {}}
    out["copies"]["original"] = quality.measure(decode(_jpeg(full))).values
    out["skin_chroma"] = _skin_chroma(data)
    for name, (_, fn) in DEGRADATIONS.items():
        out["copies"][name] = quality.measure(decode(_jpeg(fn(full)))).values
    # focus at every DCT scale, for the sharp original and 2-px / 4-px blurs
    per_scale = {}
    for label, arr in (("sharp", full), ("blur2", _blur(full, 2.0)), ("blur4", _blur(full, 4.0))):
        jpeg = _jpeg(arr)
        for scale in SCALES:
            im = Image.open(io.BytesIO(jpeg))
            if scale > 1:
                im.draft("RGB", (im.width // scale, im.height // scale))
            g = np.asarray(im.convert("L"))
            vol = float(cv2.Laplacian(g, cv2.CV_64F).var())
            per_scale[f"{label}@{scale}"] = {"sharpness": quality.sharpness(g), "vol": vol}
    out["per_scale"] = per_scale
    return out


def roc(neg: np.ndarray, pos: np.ndarray, higher_is_better: bool) -> tuple[np.ndarray, ...]:
    """FPR, TPR over all thresholds; a positive is a *bad* image (flagged)."""
    s_neg = -neg if higher_is_better else neg  # larger score = worse
    s_pos = -pos if higher_is_better else pos
    thr = np.unique(np.concatenate([s_neg, s_pos]))[::-1]
    fpr = np.array([0.0, *[(s_neg >= t).mean() for t in thr]])
    tpr = np.array([0.0, *[(s_pos >= t).mean() for t in thr]])
    return fpr, tpr


def auc(neg, pos, hib) -> float:
    fpr, tpr = roc(np.asarray(neg), np.asarray(pos), hib)
    return float(np.trapezoid(np.append(tpr, 1.0), np.append(fpr, 1.0)))


def rate(values, limit: float, hib: bool) -> float:
    v = np.asarray(values, float)
    return float((v < limit).mean() if hib else (v > limit).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "calibration")
    ap.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="re-judge saved measurements")
    args = ap.parse_args()
    if args.report_only:
        results = json.loads((args.out / "measurements.json").read_text())
        report(results, args.figures, args.out)
        return
    files = sorted((args.data / "images" / "isic_uda1").glob("*.jpg")) + sorted(
        (args.data / "images" / "ham10000_artefact_insertion").rglob("*.jpg")
    )
    if args.limit:
        files = files[:: max(1, len(files) // args.limit)][: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(measure_one, map(str, files), chunksize=4))
    (args.out / "measurements.json").write_text(json.dumps(results))
    report(results, args.figures, args.out)


def report(results: list[dict], figures: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sop = Protocol().sop.checks
    n = len(results)
    summary: dict = {"images": n, "checks": {}, "focus_scales": {}}

    # skin locus for the colour cast (PCA of the originals' skin chromaticities)
    chroma = np.array([r["skin_chroma"] for r in results if r["skin_chroma"]])
    ref = np.median(chroma, axis=0)
    _, _, vt = np.linalg.svd(chroma - chroma.mean(axis=0), full_matrices=False)
    axis = vt[0] if vt[0][0] > 0 else -vt[0]
    summary["skin_ref"], summary["skin_axis"] = ref.round(4).tolist(), axis.round(4).tolist()

    def values(copy: str, check: str) -> list[float]:
        return [r["copies"][copy][check] for r in results if r["copies"][copy][check] is not None]

    lines = [
        "| check | degradation | AUC | flagged at warn | failed at fail |",
        "|---|---|---|---|---|",
    ]
    fig, axes = plt.subplots(2, 4, figsize=(18, 8))
    checks = [
        "sharpness",
        "underexposure",
        "overexposure",
        "clipped_fraction",
        "lesion_offset",
        "lesion_edge_contact",
        "colour_cast",
    ]
    axes.flat[-1].axis("off")
    for ax, check in zip(axes.flat, checks, strict=False):
        t = sop[check]
        neg = values("original", check)
        entry = {
            "warn": t.warn,
            "fail": t.fail,
            "originals_flagged_at_warn": rate(neg, t.warn, t.higher_is_better),
            "originals_failed": rate(neg, t.fail, t.higher_is_better),
            "degradations": {},
        }
        lines.append(
            f"| {check} | none (originals, n={len(neg)}) | – | "
            f"{entry['originals_flagged_at_warn']:.1%} | {entry['originals_failed']:.1%} |"
        )
        for deg, (target, _) in DEGRADATIONS.items():
            if target != check and check not in ALSO.get(deg, []):
                continue
            pos = values(deg, check)
            a = auc(neg, pos, t.higher_is_better)
            fpr, tpr = roc(np.asarray(neg), np.asarray(pos), t.higher_is_better)
            ax.plot(fpr, tpr, label=f"{deg} (AUC {a:.3f})")
            d = {
                "auc": a,
                "n": len(pos),
                "flagged_at_warn": rate(pos, t.warn, t.higher_is_better),
                "failed_at_fail": rate(pos, t.fail, t.higher_is_better),
                "median": float(np.median(pos)) if pos else None,
            }
            entry["degradations"][deg] = d
            lines.append(
                f"| {check} | {deg} (n={len(pos)}) | {a:.3f} | {d['flagged_at_warn']:.1%} | "
                f"{d['failed_at_fail']:.1%} |"
            )
        entry["originals_median"] = float(np.median(neg))
        entry["originals_p02_p98"] = [float(np.percentile(neg, 2)), float(np.percentile(neg, 98))]
        summary["checks"][check] = entry
        ax.plot([0, 1], [0, 1], color="grey", lw=0.5, ls=":")
        ax.set_title(f"{check} (warn {t.warn:g}, fail {t.fail:g})")
        ax.set_xlabel("false-positive rate (originals flagged)")
        ax.set_ylabel("true-positive rate (degraded flagged)")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"SOP checks: ROC against degraded copies of {n} real dermoscopy images")
    fig.tight_layout()
    figures.mkdir(parents=True, exist_ok=True)
    fig.savefig(figures / "sop_roc.png", dpi=90)
    plt.close(fig)

    # focus by DCT decode scale
    big = [r for r in results if max(r["size"]) >= 2000]
    scale_lines = [
        "| decode scale | VoL ratio 2-px blur / sharp (median, IQR) | AUC σ=2 px | AUC σ=4 px |",
        "|---|---|---|---|",
    ]
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    aucs2, aucs4 = [], []
    for s in SCALES:
        ratio = [
            r["per_scale"][f"blur2@{s}"]["vol"] / r["per_scale"][f"sharp@{s}"]["vol"] for r in big
        ]
        sharp = [r["per_scale"][f"sharp@{s}"]["sharpness"] for r in big]
        b2 = [r["per_scale"][f"blur2@{s}"]["sharpness"] for r in big]
        b4 = [r["per_scale"][f"blur4@{s}"]["sharpness"] for r in big]
        a2, a4 = auc(sharp, b2, True), auc(sharp, b4, True)
        aucs2.append(a2)
        aucs4.append(a4)
        q = np.percentile(ratio, [25, 50, 75])
        summary["focus_scales"][f"1/{s}"] = {
            "vol_ratio_median": float(q[1]),
            "vol_ratio_iqr": [float(q[0]), float(q[2])],
            "auc_blur2": a2,
            "auc_blur4": a4,
            "n": len(big),
        }
        scale_lines.append(f"| 1/{s} | {q[1]:.2f} ({q[0]:.2f}–{q[2]:.2f}) | {a2:.3f} | {a4:.3f} |")
        ax[0].scatter([s] * len(ratio), ratio, s=8, alpha=0.5)
    ax[0].set_xscale("log", base=2)
    ax[0].set_xticks(SCALES, [f"1/{s}" for s in SCALES])
    ax[0].set_ylabel("variance of Laplacian, 2-px blur / sharp")
    ax[0].set_title(f"A 2-px blur fades as the decode shrinks (n={len(big)}, ≥2000 px)")
    ax[1].plot(SCALES, aucs2, "o-", label="σ = 2 px")
    ax[1].plot(SCALES, aucs4, "s-", label="σ = 4 px")
    ax[1].set_xscale("log", base=2)
    ax[1].set_xticks(SCALES, [f"1/{s}" for s in SCALES])
    ax[1].set_ylim(0.4, 1.02)
    ax[1].set_ylabel("ROC AUC of the focus measure")
    ax[1].set_title("Focus check quality by decode scale")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(figures / "sop_focus_scale.png", dpi=90)
    plt.close(fig)

    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))
    print()
    print("\n".join(scale_lines))
    print()
    print("skin reference", summary["skin_ref"], "axis", summary["skin_axis"])
    for check, e in summary["checks"].items():
        print(
            check,
            "originals median",
            round(e["originals_median"], 4),
            "p2/p98",
            [round(x, 4) for x in e["originals_p02_p98"]],
        )


if __name__ == "__main__":
    main()
