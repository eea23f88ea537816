"""A demo-like cohort with planted ground truth, for the report and release tests.

Every fact is decided here first (patients, lesions, images, what each clinician, reviewer and
pathologist says, which records are duplicates or failed the SOP) and then written through the
registry's and the verification workflow's public functions. The tests compare what the report
and the release say against these planted facts, never against the code under test.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from PIL import Image as PILImage

from dermset.model.record import ImageRecord
from dermset.registry.project import Project
from dermset.registry.quality_tables import QualityCheck
from dermset.registry.record_writer import ImageInput, RecordWriter
from dermset.verification import (
    adjudicate,
    assign_reviewers,
    clinical_annotate,
    enter_histopathology,
    submit_review,
)

CATEGORIES = ["NV", "NV", "NV", "BKL", "MEL", "BCC", "SCC", "AK", "DF", "VASC", "OTHER"]
MALIGNANT = {"MEL", "BCC", "SCC"}
SITES = ["head/neck", "upper extremity", "lower extremity", "anterior torso", "posterior torso"]
DEVICES = ["iPhone 13 + DermLite DL5", "Galaxy S21 + Heine Delta 30"]
FITZ = ["I", "II", "III", "IV"]
REVIEWERS = ["rev_anna", "rev_ben", "rev_carla"]
CLINICIAN = "dr_clinic"
CURATOR = "curator_dora"
STRUCTS = {
    "NV": ["pigment_network", "globules"],
    "MEL": ["atypical_network", "blue_white_veil"],
    "BCC": ["arborizing_vessels"],
    "BKL": ["milia_like_cysts"],
}
#: a wrong but plausible call per category (where reviewer errors go)
CONFUSED = {
    "NV": "MEL",
    "MEL": "NV",
    "BCC": "BKL",
    "SCC": "AK",
    "AK": "SCC",
    "BKL": "NV",
    "DF": "NV",
    "VASC": "OTHER",
    "OTHER": "BKL",
}


@dataclass
class Planted:
    """What was planted; keys are the registry's image ids."""

    images: dict[str, dict] = field(default_factory=dict)  # active images and their facts
    duplicates: list[str] = field(default_factory=list)
    sop_failed: list[str] = field(default_factory=list)
    original_names: list[str] = field(default_factory=list)
    source_ids: list[str] = field(default_factory=list)
    clinical: dict[str, str] = field(default_factory=dict)
    reviews: dict[str, dict[str, str]] = field(default_factory=dict)
    adjudicated: dict[str, str] = field(default_factory=dict)
    histopathology: dict[str, str] = field(default_factory=dict)  # lesion local id -> result
    quality: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # check -> values

    def expected_stage(self, image_id: str) -> str:
        facts = self.images[image_id]
        if facts["lesion"] in self.histopathology:
            return "histopathology"
        if image_id in self.adjudicated:
            return "adjudicated"
        if image_id in self.reviews:
            return "consensus"
        return "clinical"

    def final_label(self, image_id: str) -> str:
        lesion = self.images[image_id]["lesion"]
        if lesion in self.histopathology:
            return self.histopathology[lesion]
        if image_id in self.adjudicated:
            return self.adjudicated[image_id]
        votes = Counter(self.reviews[image_id].values())
        return votes.most_common(1)[0][0]


def jpeg(rng: np.random.Generator, w: int = 64, h: int = 48) -> bytes:
    """A small, unique, lesion-like JPEG (no metadata blocks: Pillow writes only JFIF + data)."""
    yy, xx = np.mgrid[0:h, 0:w]
    skin = np.array([200, 160, 140]) + rng.integers(-15, 15, 3)
    img = np.ones((h, w, 3)) * skin
    r = ((xx - w / 2) ** 2 / (w / 3.2) ** 2 + (yy - h / 2) ** 2 / (h / 3.2) ** 2) < 1
    img[r] = np.array([90, 60, 45]) + rng.integers(-20, 20, 3)
    img += rng.normal(0, 6, img.shape)
    buf = io.BytesIO()
    PILImage.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return _strip_app0(buf.getvalue())


def _strip_app0(data: bytes) -> bytes:
    """Drop Pillow's JFIF APP0 segment, as the ingest scrub does."""
    if data[2:4] == b"\xff\xe0":
        length = int.from_bytes(data[4:6], "big")
        return data[:2] + data[4 + length :]
    return data


def _quality(rng: np.random.Generator, fail: bool) -> dict[str, tuple[float, str]]:
    sharp = float(rng.uniform(0.05, 0.18)) if fail else float(rng.uniform(0.25, 0.9))
    mp = float(rng.uniform(0.3, 12.0))
    return {
        "sharpness": (sharp, "fail" if sharp < 0.2 else "warn" if sharp < 0.35 else "pass"),
        "resolution_mp": (mp, "fail" if mp < 0.25 else "warn" if mp < 1.0 else "pass"),
    }


def build_cohort(
    project: Project,
    *,
    n_patients: int = 18,
    seed: int = 0,
    n_duplicates: int = 3,
    n_sop_failed: int = 2,
    histopathology: bool = True,
) -> Planted:
    """Write the planted cohort and run every verification stage on it."""
    rng = np.random.default_rng(seed)
    planted = Planted()
    items: list[tuple[ImageInput, dict, str]] = []
    n = 0
    for p in range(n_patients):
        sex = ["female", "male"][int(rng.integers(0, 2))]
        fitz = FITZ[int(rng.integers(0, len(FITZ)))]
        age = int(rng.integers(1, 18)) * 5
        for les in range(int(rng.integers(1, 3))):
            dx = CATEGORIES[int(rng.integers(0, len(CATEGORIES)))]
            site = SITES[int(rng.integers(0, len(SITES)))]
            for _ in range(int(rng.integers(1, 3))):
                n += 1
                facts = {
                    "patient": f"H-{p:03d}",
                    "lesion": f"H-{p:03d}-L{les}",
                    "sex": sex,
                    "fitzpatrick_skin_type": fitz,
                    "age_approx": age,
                    "anatom_site_general": site,
                    "acquisition_device": DEVICES[int(rng.integers(0, 2))],
                    "truth": dx,
                }
                items.append((_input(project, rng, facts, n, "active", planted), facts, "active"))
    for kind, count in (("duplicate", n_duplicates), ("sop_failed", n_sop_failed)):
        for _ in range(count):
            n += 1
            base = dict(items[int(rng.integers(0, len(items)))][1])
            items.append((_input(project, rng, base, n, kind, planted), base, kind))
    with project.db.session() as s:
        writer = RecordWriter(project, s, actor="test-ingest", source="planted")
        outcomes = writer.write([it for it, _, _ in items])
        first_active = outcomes[0].image_pk
        for (it, facts, kind), out in zip(items, outcomes, strict=True):
            if kind == "duplicate":
                from dermset.registry.tables import Image

                s.get(Image, out.image_pk).duplicate_of = first_active
                planted.duplicates.append(out.image_id)
            elif kind == "sop_failed":
                planted.sop_failed.append(out.image_id)
            else:
                planted.images[out.image_id] = facts
            for check, (value, verdict) in it.quality.items():  # type: ignore[attr-defined]
                s.add(
                    QualityCheck(
                        image_id=out.image_pk,
                        check=check,
                        value=value,
                        verdict=verdict,
                        scale="small",
                    )
                )
                planted.quality.setdefault(check, []).append((value, verdict))
    _verify(project, planted, rng, histopathology)
    return planted


def _input(
    project: Project, rng: np.random.Generator, facts: dict, n: int, status: str, planted: Planted
) -> ImageInput:
    data = jpeg(rng)
    sha = project.store.put(data)
    quality = _quality(rng, fail=status == "sop_failed")
    verdict = max((v for _, v in quality.values()), key=["pass", "warn", "fail"].index)
    name = f"DSC_{4000 + n}.JPG"
    source_id = f"SITE-A-{n:05d}"
    planted.original_names.append(name)
    planted.source_ids.append(source_id)
    record = ImageRecord.model_validate(
        {
            "age_approx": facts["age_approx"],
            "sex": facts["sex"],
            "fitzpatrick_skin_type": facts["fitzpatrick_skin_type"],
            "anatom_site_general": facts["anatom_site_general"],
            "clin_size_long_diam_mm": 6.5,
            "image_type": "dermoscopic",
            "dermoscopic_type": "contact polarized",
            "acquisition_device": facts["acquisition_device"],
            "acquisition_day": int(rng.integers(0, 700)),
        }
    )
    it = ImageInput(
        record=record,
        source_id=source_id,
        patient_local=facts["patient"],
        lesion_local=facts["lesion"],
        image_columns={
            "sha256": sha,
            "pixel_sha256": sha,
            "filename_hmac": project.keys.filename(name),
            "media_type": "image/jpeg",
            "width": 64,
            "height": 48,
            "n_bytes": len(data),
            "quality_verdict": verdict,
            "quality_score": round(float(rng.uniform(0.3, 1.0)), 3),
            "status": status,
        },
    )
    it.quality = quality  # type: ignore[attr-defined]
    return it


def _verify(project: Project, planted: Planted, rng: np.random.Generator, histo: bool) -> None:
    ids = sorted(planted.images)
    with project.db.session() as s:
        for image_id in ids:
            truth = planted.images[image_id]["truth"]
            call = truth if rng.random() < 0.75 else CONFUSED[truth]
            planted.clinical[image_id] = call
            clinical_annotate(
                s,
                project,
                image=image_id,
                annotator=CLINICIAN,
                diagnosis=call,
                structures=STRUCTS.get(call, []),
            )
        assign_reviewers(s, project, REVIEWERS, actor=CURATOR)
        for k, image_id in enumerate(ids):
            truth = planted.images[image_id]["truth"]
            if k % 9 == 4:  # three different calls: adjudication
                calls = [truth, CONFUSED[truth], "OTHER" if truth != "OTHER" else "DF"]
            elif k % 5 == 1:  # one reviewer disagrees
                calls = [truth, truth, CONFUSED[truth]]
            else:
                calls = [truth, truth, truth]
            planted.reviews[image_id] = dict(zip(REVIEWERS, calls, strict=True))
            for reviewer, call in zip(REVIEWERS, calls, strict=True):
                submit_review(
                    s,
                    project,
                    image=image_id,
                    reviewer=reviewer,
                    diagnosis=call,
                    confidence=4,
                    structures=STRUCTS.get(call, []),
                )
            if len(set(calls)) == 3:
                adjudicate(
                    s,
                    project,
                    image=image_id,
                    adjudicator=CURATOR,
                    diagnosis=truth,
                    reason="planted adjudication",
                    role="curator",
                )
                planted.adjudicated[image_id] = truth
    if not histo:
        return
    # every lesion anyone called malignant gets its histopathology (the pathologist is right)
    called: dict[str, str] = {}
    for image_id, facts in planted.images.items():
        calls = {planted.clinical[image_id], *planted.reviews[image_id].values()}
        if calls & MALIGNANT or facts["truth"] in MALIGNANT:
            called[facts["lesion"]] = facts["truth"]
    with project.db.session() as s:
        for lesion, truth in sorted(called.items()):
            enter_histopathology(
                s,
                project,
                lesion=lesion,
                diagnosis=truth,
                report_date=date(2025, 3, 1),
                entered_by="path_paul",
            )
            planted.histopathology[lesion] = truth
