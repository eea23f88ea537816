"""Verification workflow throughput: label-file import, and the agreement report's bootstrap.

Measured in one run: clinical and review label files for N images imported through
`import_labels` (each file one transaction, every row audited), then the agreement report with
1,000 bootstrap resamples, and the pairwise Cohen's kappa bootstrap done with our counting
kappa against the same bootstrap done with scikit-learn's `cohen_kappa_score` (the peer).
Run: `python benchmarks/bench_verification.py [--images N] [--resamples R]`.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from itertools import combinations
from pathlib import Path

import numpy as np

from _common import peak_rss_mb, save, timer
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata_import import import_table
from dermset.registry.project import Project
from dermset.synthetic.reviewers import default_panel
from dermset.verification import agreement as ag
from dermset.verification import agreement_report, assign_reviewers, import_labels


def write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    project = Project.init(tmp / "p")
    codes = project.protocol.taxonomy().codes
    n = args.images
    truth = [codes[i] for i in rng.choice(len(codes), n)]
    meta = write(
        tmp / "meta.csv",
        ["isic_id", "lesion_id", "age_approx"],
        [[f"B{i:06d}", f"L{i:06d}", 50] for i in range(n)],
    )
    import_table(project, meta, load_mapping("isic"), actor="bench")
    clinical = write(
        tmp / "clinical.csv",
        ["image_id", "annotator", "diagnosis"],
        [[f"B{i:06d}", "clinician", truth[i]] for i in range(n)],
    )
    panel = default_panel(codes)
    with project.db.session() as s:
        assign_reviewers(s, project, [r.name for r in panel], actor="bench")
    reviews = write(
        tmp / "reviews.csv",
        ["image_id", "annotator", "diagnosis", "confidence", "structures"],
        [
            [f"B{i:06d}", r.name, r.diagnose(truth[i], rng), 4, "streaks;dots"]
            for r in panel
            for i in range(n)
        ],
    )
    with timer() as t_clin:
        rep_c = import_labels(project, clinical, "clinical", actor="bench")
    with timer() as t_rev:
        rep_r = import_labels(project, reviews, "review", actor="bench")
    assert rep_c.ok and rep_r.ok, (rep_c.errors[:3], rep_r.errors[:3])
    with project.db.read() as s, timer() as t_agree:
        report = agreement_report(s, project.protocol, n_bootstrap=args.resamples)

    # peer: the pairwise Cohen bootstrap with scikit-learn, on the same ratings and resamples
    said = {
        r.name: np.array([codes.index(r.diagnose(truth[i], rng)) for i in range(n)]) for r in panel
    }
    resamples = min(args.resamples, 200)
    with timer() as t_ours:
        for a, b in combinations(said, 2):
            ag.bootstrap_ci(
                lambda idx, a=a, b=b: ag.cohen_kappa_codes(said[a][idx], said[b][idx], len(codes)),
                n,
                n_resamples=resamples,
            )
    with timer() as t_peer:
        for a, b in combinations(said, 2):
            ag.bootstrap_ci(
                lambda idx, a=a, b=b: ag.cohen_kappa(said[a][idx], said[b][idx]),
                n,
                n_resamples=resamples,
            )
    result = {
        "images": n,
        "reviews": 3 * n,
        "clinical_import_rows_per_s": round(n / t_clin["seconds"], 1),
        "review_import_rows_per_s": round(3 * n / t_rev["seconds"], 1),
        "review_import_seconds": round(t_rev["seconds"], 2),
        "consensus_closed": rep_r.consensus_closed,
        "sent_to_adjudication": rep_r.sent_to_adjudication,
        "agreement_report_seconds": round(t_agree["seconds"], 2),
        "agreement_resamples": args.resamples,
        "fleiss_kappa": round(report.fleiss_kappa, 4),
        "cohen_bootstrap_resamples": resamples,
        "cohen_bootstrap_ours_seconds": round(t_ours["seconds"], 3),
        "cohen_bootstrap_sklearn_seconds": round(t_peer["seconds"], 3),
        "cohen_bootstrap_speedup_vs_sklearn": round(t_peer["seconds"] / t_ours["seconds"], 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    save("verification", result)
    project.close()


if __name__ == "__main__":
    main()
