"""Write a synthetic cohort to disk: images, masks, an ISIC upload CSV and the ground truth.

```
DIR/images/<file>        what the clinic uploads: JPEG mostly, some PNG, an iPhone HEIC, the
                         planted duplicates, SOP failures, broken files and privacy bait
DIR/masks/<image>.png    the lesion mask of every decodable image (L, 0/255), keyed by image id
DIR/structure_masks/<image>_<code>.png   where each dermoscopic structure (IDS 2016 code) is
                         drawn, for every photograph rendered (not for edited copies)
DIR/metadata.csv         one row per file, ISIC upload format (`dermset validate … --mapping isic`)
DIR/truth.json           true diagnoses, every planted item and what dermset should do with it
```

The cohort is a function of (size, seed, image_size): the same arguments give the same bytes.
It is written next to *DIR* first and moved into place at the end, so an interrupted run leaves
no half-written cohort behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import multiprocessing
import os
import shutil
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dermset.synthetic import planted as pl
from dermset.synthetic.cohort import (
    TAXONOMY,
    CohortPlan,
    Lesion,
    Patient,
    Shot,
    plan_lesions,
    plan_shots,
    second_capture_count,
)
from dermset.synthetic.designs import design_lesion
from dermset.synthetic.images import Capture, render_capture
from dermset.synthetic.manifest import CohortManifest, summarise

DEFAULT_SIZE = 300
DEFAULT_IMAGE_SIZE = (1200, 900)  # 1.08 MP: passes the default SOP's 1.0 MP warning limit
MIN_SIZE = 40
CSV_COLUMNS = (
    "image",
    "filename",
    "patient_id",
    "lesion_id",
    "age",
    "sex",
    "fitzpatrick_skin_type",
    "anatom_site_general",
    "clin_size_long_diam_mm",
    "image_type",
    "dermoscopic_type",
    "acquisition_day",
    "diagnosis",
)
STUDY_START = dt.date(2024, 1, 8)


def plan_cohort(
    size: int = DEFAULT_SIZE, seed: int = 0, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
) -> CohortPlan:
    """Decide every patient, lesion and record of a cohort (no pixels yet)."""
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} records (got {size})")
    w, h = image_size
    if w < 64 or h < 48:
        raise ValueError(f"image_size must be at least 64x48 (got {w}x{h})")
    rng = np.random.default_rng(seed)
    n_second = second_capture_count(size)
    counts = pl.planted_counts(size, n_second)
    patients, lesions = plan_lesions(rng, size - counts.extra)
    shots = plan_shots(rng, patients, lesions, n_second)
    shots += pl.plan_planted(rng, lesions, shots, counts)
    # Records arrive in capture order; copies are not next to their sources.
    keys = [(s.acquisition_day, float(rng.random())) for s in shots]
    shots = [shots[i] for i in sorted(range(len(shots)), key=keys.__getitem__)]
    plan = CohortPlan(seed, size, (w, h), patients, lesions, shots)
    for les in lesions:
        design = design_lesion(les.diagnosis, np.random.default_rng(les.seed))
        les.variant, les.structures = design.variant, list(design.structures)
    _name_files(plan, rng)
    return plan


def _name_files(plan: CohortPlan, rng: np.random.Generator) -> None:
    """Capture ids, and file names as phones and apps write them (they must never be stored)."""
    used: set[str] = set()
    people = iter(pl.FAKE_PEOPLE)
    for n, shot in enumerate(plan.shots, start=1):
        shot.image = f"CAP-{n:05d}"
        device = pl.device_by_name(shot.device)
        day = STUDY_START + dt.timedelta(days=shot.acquisition_day)
        secs = (8 * 3600 + n * 37 + int(rng.integers(0, 30))) % 86400
        clock = f"{secs // 3600:02d}{secs // 60 % 60:02d}{secs % 60:02d}"
        ext = {"jpeg": "jpg", "png": "png", "heic": "heic"}[shot.format]
        if shot.role == "privacy_bait" and shot.kind in ("name_in_filename", "exif_and_name"):
            person = next(people)
            shot.params["person"] = person
            site = plan.lesion(shot.lesion_id).anatom_site_general.split("/")[0].replace(" ", "-")
            name = f"{person['family']}_{person['given']}_{person['born']}_{site}.{ext}"
        elif shot.role == "privacy_bait":
            shot.params["person"] = next(people)
            name = f"IMG_{1000 + n:04d}.JPG"
        elif shot.kind == "png_resave":
            name = f"export_{n:04d}.png"
        elif shot.kind == "cmyk_jpeg":
            name = f"scan_{n:04d}.jpg"
        elif device.make == "Apple":
            name = f"IMG_{1000 + n:04d}.{ext.upper()}"
        elif device.make == "Google":
            name = f"PXL_{day:%Y%m%d}_{clock}{n % 1000:03d}.{ext}"
        else:
            name = f"{day:%Y%m%d}_{clock}.{ext}"
        stem, dot, ext_part = name.rpartition(".")
        k = 1
        while name.casefold() in used:
            name = f"{stem}({k}){dot}{ext_part}"
            k += 1
        used.add(name.casefold())
        shot.filename = name


# -- rendering ----------------------------------------------------------------------------------


@dataclass
class _Job:
    shot: Shot
    lesion: Lesion
    patient: Patient
    image_size: tuple[int, int]
    copies: list[Shot]
    heic: bool


def _capture(job: _Job, shot: Shot) -> Capture:
    p = job.patient
    return Capture(
        seed=shot.seed,
        width=job.image_size[0],
        height=job.image_size[1],
        skin=p.skin,
        device=pl.device_by_name(shot.device),
        rotation=shot.rotation,
        shift=shot.shift,
        scale=shot.scale,
        hair=p.hair * (1.3 if job.lesion.anatom_site_general == "head/neck" else 1.0),
        hair_colour=p.hair_colour,
    )


def _mask_bytes(mask: Image.Image) -> bytes:
    buf = io.BytesIO()
    mask.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _produce(job: _Job) -> list[tuple[str, bytes, dict[str, Any]]]:
    """Render one photograph and everything derived from it: [(image id, file bytes, facts)]."""
    shot = job.shot
    if shot.role == "bad_file" and shot.kind != "truncated_jpeg":
        return [(shot.image, pl.bad_file_bytes(str(shot.kind), b""), {"mask": None})]
    les = job.lesion
    design = design_lesion(les.diagnosis, np.random.default_rng(les.seed))
    r = render_capture(design, les.clin_size_long_diam_mm, _capture(job, shot))
    img, mask, geometry, structures = r.image, r.mask, r.geometry, r.structures
    facts: dict[str, Any] = {}
    out: list[tuple[str, bytes, dict[str, Any]]] = []
    if shot.role == "bad_file":
        data = pl.bad_file_bytes("truncated_jpeg", pl.encode(img, "jpeg"))
        return [(shot.image, data, {"mask": None, "bytes_kept": len(data)})]
    if shot.role == "sop_failure":
        size = img.size
        img, params = pl.apply_defect(
            img, str(shot.kind), geometry.field_centre, geometry.field_radius
        )
        facts.update(params)
        if shot.kind == "low_resolution":
            mask = mask.resize(img.size, Image.Resampling.NEAREST)
            structures = {
                k: m.resize(img.size, Image.Resampling.NEAREST) for k, m in structures.items()
            }
            geometry = pl.moved_geometry(geometry, "low_resolution", params, size)
    exif = None
    fmt = shot.format
    if shot.role == "privacy_bait" and shot.kind in ("exif_identifiers", "exif_and_name"):
        exif = pl.bait_exif(
            pl.device_by_name(shot.device), shot.acquisition_day, shot.params["person"]
        )
    if shot.kind == "exif_orientation":
        stored = img.transpose(Image.Transpose.ROTATE_90)
        data = pl.encode(stored, "jpeg", exif=pl.orientation_exif())
        facts["stored_size"] = list(stored.size)
    elif shot.kind == "cmyk_jpeg":
        data = pl.encode(img.convert("CMYK"), "jpeg")
    elif fmt == "heic" and not job.heic:
        data = pl.encode(img, "jpeg")
        facts["heic_unavailable"] = True
    else:
        data = pl.encode(img, fmt, exif=exif)
    facts.update(geometry.to_dict())
    facts.update({"mask": _mask_bytes(mask), "width": img.size[0], "height": img.size[1]})
    facts["structure_masks"] = {k: _mask_bytes(m) for k, m in sorted(structures.items())}
    out.append((shot.image, data, facts))
    decoded = Image.open(io.BytesIO(data)).convert("RGB") if fmt == "jpeg" else img
    rng = np.random.default_rng(shot.seed ^ 0x5EED)
    for copy in job.copies:
        if copy.kind == "byte_copy":
            out.append((copy.image, data, {**facts}))
            continue
        if copy.kind == "png_resave":  # the same decoded pixels, losslessly
            out.append((copy.image, pl.encode(decoded, "png"), {**facts}))
            continue
        dimg, dmask, params = pl.near_duplicate(decoded, mask, str(copy.kind), rng)
        quality = params.get("quality", 90)
        moved = pl.moved_geometry(geometry, str(copy.kind), params, decoded.size)
        cfacts = {**facts, **params, **moved.to_dict(), "mask": _mask_bytes(dmask)}
        cfacts["structure_masks"] = {}  # an edited copy only gets the lesion mask
        cfacts.update({"width": dimg.size[0], "height": dimg.size[1]})
        out.append((copy.image, pl.encode(dimg, "jpeg", quality=quality), cfacts))
    return out


def _heic_available() -> bool:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        buf = io.BytesIO()
        Image.new("RGB", (16, 16)).save(buf, format="HEIF", enc_params={"preset": "ultrafast"})
        return True
    except Exception:  # no encoder here: the HEIC plant becomes a JPEG and truth says so
        return False


def _jobs(plan: CohortPlan) -> list[_Job]:
    copies: dict[str, list[Shot]] = {}
    for s in plan.shots:
        if s.role in ("exact_duplicate", "near_duplicate") and s.source is not None:
            copies.setdefault(s.source.image, []).append(s)
    heic = any(s.format == "heic" for s in plan.shots) and _heic_available()
    jobs = []
    for s in plan.shots:
        if s.role in ("exact_duplicate", "near_duplicate"):
            continue
        les = plan.lesion(s.lesion_id)
        jobs.append(
            _Job(
                s, les, plan.patient(les.patient_id), plan.image_size, copies.get(s.image, []), heic
            )
        )
    return jobs


# -- public API ---------------------------------------------------------------------------------


def generate_cohort(
    out_dir: str | Path,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    workers: int = 1,
) -> CohortManifest:
    """Generate a synthetic cohort of *size* records into *out_dir* and return its manifest.

    *out_dir* must not exist, be empty, or hold a cohort generated earlier (it is replaced).
    ``workers`` > 1 renders in that many processes; the output does not depend on it.

    >>> m = generate_cohort("/tmp/cohort", size=60, seed=1, image_size=(320, 240))  # doctest: +SKIP
    >>> m.counts["records"]  # doctest: +SKIP
    60
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "truth.json").is_file():
        raise FileExistsError(f"{out} is not empty and holds no synthetic cohort; choose another")
    plan = plan_cohort(size, seed, image_size)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        facts = _write(plan, tmp, workers)
        manifest = summarise(plan, facts, out)
        manifest.write_truth(tmp / "truth.json")
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CohortManifest.load(out)  # exactly what truth.json says, JSON types and all


def _write(plan: CohortPlan, root: Path, workers: int) -> dict[str, dict[str, Any]]:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "structure_masks").mkdir()
    by_id = {s.image: s for s in plan.shots}
    facts: dict[str, dict[str, Any]] = {}
    jobs = _jobs(plan)
    if workers > 1:
        # fork is quick and needs no `__main__` guard in the caller's script, but forking a
        # process that runs other threads (a web server) is unsafe: then a forkserver
        method = "fork" if threading.active_count() == 1 else "forkserver"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            results = pool.map(_produce, jobs, chunksize=4)
            _store(results, by_id, root, facts)
    else:
        _store(map(_produce, jobs), by_id, root, facts)
    _write_csv(plan, root / "metadata.csv")
    return facts


def _store(results, by_id, root: Path, facts: dict[str, dict[str, Any]]) -> None:
    for outputs in results:
        for image, data, info in outputs:
            shot = by_id[image]
            (root / "images" / shot.filename).write_bytes(data)
            mask = info.pop("mask", None)
            if mask is not None:
                (root / "masks" / f"{image}.png").write_bytes(mask)
                info["mask"] = f"masks/{image}.png"
            else:
                info["mask"] = None
            paths = {}
            for code, png in info.pop("structure_masks", {}).items():
                paths[code] = f"structure_masks/{image}_{code}.png"
                (root / paths[code]).write_bytes(png)
            info["structure_masks"] = paths
            facts[image] = info


def _write_csv(plan: CohortPlan, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for s in plan.shots:
            les = plan.lesion(s.lesion_id)
            pat = plan.patient(les.patient_id)
            device = pl.device_by_name(s.device)
            writer.writerow(
                (
                    s.image,
                    s.filename,
                    pat.patient_id,
                    les.lesion_id,
                    pat.age,
                    pat.sex,
                    pat.fitzpatrick_skin_type or "",
                    les.anatom_site_general,
                    les.clin_size_long_diam_mm if les.size_recorded else "",
                    "dermoscopic",
                    device.dermoscopic_type,
                    s.acquisition_day,
                    TAXONOMY[les.clinical_diagnosis].name,
                )
            )


def _move_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
        return
    for name in ("images", "masks", "structure_masks", "metadata.csv", "truth.json"):
        old = out / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    for child in tmp.iterdir():
        os.replace(child, out / child.name)
    tmp.rmdir()
