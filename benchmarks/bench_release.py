"""Report and release of a 100,000-image registry: time and peak memory, against I/O floors.

The registry is generated (metadata drawn like a dermoscopy cohort; small unique JPEGs in the
store; SOP measures for every record; three reviews, consensus and structures for 5 % of the
images; 1.5 % duplicates and 2 % SOP failures). Each measured step runs in a fresh process, so
its peak resident memory is its own. Floors measured in the same run:

* ``load``: reading the dataset's rows into pandas (what any statistics must at least do);
* ``copy+hash``: reading every released image from the store, writing it out and hashing it
  (what any release must at least do);
* ``bagit``: the bagit library bagging the copied images alone (a peer for the bag step).

Run: ``python benchmarks/bench_release.py [--images 100000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import insert, select

from _common import save

HERE = Path(__file__).resolve()
CATEGORIES = ["NV", "BKL", "MEL", "BCC", "AK", "SCC", "DF", "VASC", "OTHER"]
PREVALENCE = [0.58, 0.12, 0.09, 0.07, 0.04, 0.03, 0.03, 0.02, 0.02]
MALIGNANT = {"MEL", "BCC", "SCC"}
SITES = [
    "head/neck",
    "upper extremity",
    "lower extremity",
    "anterior torso",
    "posterior torso",
    "lateral torso",
    "palms/soles",
]
DEVICES = ["iPhone 13 + DermLite DL5", "Galaxy S22 + Heine Delta 30", "Pixel 7 + DermLite DL4"]
REVIEWERS = ["rev_a", "rev_b", "rev_c"]


def _jpeg(rng: np.random.Generator, base: np.ndarray) -> bytes:
    img = base.copy()
    y, x = rng.integers(8, 40, 2)
    img[y - 6 : y + 6, x - 6 : x + 6] = rng.integers(40, 120, 3)
    img[0, :3] = rng.integers(0, 255, (3, 3))  # unique bytes per image
    buf = io.BytesIO()
    PILImage.fromarray(img).save(buf, "JPEG", quality=80)
    data = buf.getvalue()
    if data[2:4] == b"\xff\xe0":  # no JFIF block, as the ingest scrub stores it
        data = data[:2] + data[4 + int.from_bytes(data[4:6], "big") :]
    return data


def generate(root: Path, n: int, seed: int = 0) -> Path:
    """A project whose registry holds *n* image records with files (setup; not measured)."""
    from dermset.model.record import ImageRecord
    from dermset.registry.project import Project
    from dermset.registry.quality_tables import QualityCheck
    from dermset.registry.record_writer import ImageInput, RecordWriter
    from dermset.registry.tables import Consensus, Image, Review, StructureFinding

    rng = np.random.default_rng(seed)
    project = Project.init(root / "project")
    base = np.full((48, 48, 3), (196, 150, 130), dtype=np.uint8)
    n_patients = int(n / 2.4)
    stage_benign = ["consensus", "follow-up", "clinical", "histopathology"]
    batch: list[ImageInput] = []
    labels: list[str] = []
    statuses = rng.choice(["active", "duplicate", "sop_failed"], n, p=[0.965, 0.015, 0.02])
    with project.db.session() as s:
        writer = RecordWriter(project, s, actor="bench", source="bench")
        for i in range(n):
            p = int(rng.integers(0, n_patients))
            dx = CATEGORIES[int(rng.choice(9, p=PREVALENCE))]
            stage = "histopathology" if dx in MALIGNANT else stage_benign[int(rng.integers(4))]
            data = _jpeg(rng, base)
            sha = hashlib.sha256(data).hexdigest()
            path = Path(project.store.path(sha))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)  # setup only: the store's fsync per file would take minutes
            rec = ImageRecord.model_validate(
                {
                    "age_approx": int(rng.integers(0, 18)) * 5,
                    "sex": ["female", "male"][p % 2],
                    "fitzpatrick_skin_type": ["I", "II", "III", "IV", "V", "VI"][p % 6],
                    "anatom_site_general": SITES[int(rng.integers(len(SITES)))],
                    "image_type": "dermoscopic",
                    "dermoscopic_type": "contact polarized",
                    "acquisition_device": DEVICES[p % 3],
                    "acquisition_day": int(rng.integers(0, 900)),
                    "diagnosis": dx,
                    "verification_stage": stage,
                }
            )
            batch.append(
                ImageInput(
                    record=rec,
                    source_id=f"BENCH-{i:07d}",
                    patient_local=f"P{p}",
                    lesion_local=f"P{p}-L{int(rng.integers(0, 2))}",
                    image_columns={
                        "sha256": sha,
                        "pixel_sha256": sha,
                        "media_type": "image/jpeg",
                        "width": 48,
                        "height": 48,
                        "n_bytes": len(data),
                        "filename_hmac": project.keys.filename(f"IMG_{i:05d}.JPG"),
                        "status": str(statuses[i]),
                        "quality_verdict": "fail" if statuses[i] == "sop_failed" else "pass",
                        "quality_score": 0.8,
                    },
                )
            )
            labels.append(dx)
            if len(batch) == 5000:
                writer.write(batch)
                batch.clear()
        if batch:
            writer.write(batch)
        pks = list(s.execute(select(Image.id).order_by(Image.id)).scalars())
        checks = []
        for pk, status in zip(pks, statuses, strict=True):
            fail = status == "sop_failed"
            checks += [
                {
                    "image_id": pk,
                    "check": "sharpness",
                    "scale": "small",
                    "value": float(rng.uniform(0.05, 0.19) if fail else rng.uniform(0.3, 0.95)),
                    "verdict": "fail" if fail else "pass",
                },
                {
                    "image_id": pk,
                    "check": "resolution_mp",
                    "scale": "header",
                    "value": float(rng.uniform(1.0, 12.0)),
                    "verdict": "pass",
                },
                {
                    "image_id": pk,
                    "check": "colour_cast",
                    "scale": "small",
                    "value": float(rng.uniform(0.0, 0.1)),
                    "verdict": "pass",
                },
            ]
        s.execute(insert(QualityCheck), checks)
        reviewed = [pk for pk, st in zip(pks, statuses, strict=True) if st == "active"][::20]
        reviews, consensus, findings = [], [], []
        for pk in reviewed:
            dx = labels[pk - 1]
            calls = [dx, dx, dx if rng.random() < 0.8 else ("NV" if dx != "NV" else "BKL")]
            reviews += [
                {"image_id": pk, "reviewer": r, "diagnosis": c, "confidence": 4}
                for r, c in zip(REVIEWERS, calls, strict=True)
            ]
            consensus.append(
                {
                    "image_id": pk,
                    "status": "consensus",
                    "diagnosis": dx,
                    "agreement": calls.count(dx) / 3,
                    "n_reviews": 3,
                }
            )
            findings.append(
                {
                    "image_id": pk,
                    "source": "consensus",
                    "annotator": "",
                    "structure": "pigment_network" if dx == "NV" else "dots",
                    "present": True,
                }
            )
        s.execute(insert(Review), reviews)
        s.execute(insert(Consensus), consensus)
        s.execute(insert(StructureFinding), findings)
    project.close()
    return root / "project"


# -- measured phases, each in its own process ------------------------------------------------
def phase(name: str, project_dir: Path, out: Path) -> dict:
    from dermset.registry.project import Project

    project = Project.open(project_dir)
    t0 = time.perf_counter()
    extra: dict = {}
    if name == "report":
        from dermset.report.dataset_report import build_report

        build_report(project, out, n_bootstrap=1000)
    elif name == "release":
        from dermset.release.create import create_release

        folder = create_release(project, "bench", actor="bench", out_dir=out, n_bootstrap=1000)
        extra["release_bytes"] = sum(
            p.stat().st_size
            for p in folder.rglob("*")
            if p.is_file() and p.relative_to(folder).parts[0] != "bag"
        )
    elif name == "load":
        import pandas as pd

        from dermset.registry.views import ImageFilter, image_rows

        with project.db.read() as s:
            frame = pd.DataFrame(list(image_rows(s, ImageFilter(status="active"))))
        extra["rows"] = len(frame)
    elif name == "copy+hash":
        from dermset.registry.tables import Image

        out.mkdir(parents=True)
        with project.db.read() as s:
            keys = list(
                s.execute(select(Image.image_id, Image.sha256).where(Image.status == "active"))
            )
        for image_id, sha in keys:
            data = project.store.get(sha)
            hashlib.sha256(data).hexdigest()
            (out / f"{image_id}.jpg").write_bytes(data)
        extra["files"] = len(keys)
    elif name == "bagit":
        import bagit

        bagit.make_bag(str(out), checksums=["sha256"])
    seconds = time.perf_counter() - t0
    project.close()
    peak = _peak_rss_mb()
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1), **extra}


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage: Linux carries ru_maxrss over
    an exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(name: str, project_dir: Path, out: Path) -> dict:
    cmd = [
        sys.executable,
        str(HERE),
        "--phase",
        name,
        "--project",
        str(project_dir),
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"phase {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--phase")
    ap.add_argument("--project", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--keep", type=Path, help="keep the generated project here")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.project, args.out)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="dermset-bench-release-"))
    try:
        t0 = time.perf_counter()
        project_dir = generate(args.keep or tmp, args.images)
        setup = time.perf_counter() - t0
        result: dict = {
            "images": args.images,
            "setup_seconds": round(setup, 1),
            "cpus": os.cpu_count(),
        }
        for name in ("load", "report", "copy+hash", "bagit", "release"):
            out = tmp / name.replace("+", "_")
            if name == "bagit":
                shutil.copytree(tmp / "copy_hash", out)
            result[name] = run_phase(name, project_dir, out)
            print(name, result[name], flush=True)
        result["report_vs_load"] = round(result["report"]["seconds"] / result["load"]["seconds"], 1)
        floor = result["copy+hash"]["seconds"]
        result["release_vs_copy_hash"] = round(result["release"]["seconds"] / floor, 1)
        result["bagit_vs_copy_hash"] = round(result["bagit"]["seconds"] / floor, 1)
        result["release_images_per_s"] = round(args.images / result["release"]["seconds"])
        save("release", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
