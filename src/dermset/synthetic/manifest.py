"""The ground truth of a generated cohort (``truth.json``) and the object tests hold it in.

``truth.json`` holds, besides the plan: every planted item with what dermset should do with it
(``expect``), the duplicate groups, the second-capture pairs, and the counts a correct pipeline
must reproduce (unique images, exclusions, patients, lesions, per true category, malignant).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermset.synthetic import planted as pl
from dermset.synthetic.cohort import MALIGNANT, TAXONOMY, CohortPlan

TRUTH_VERSION = 1
DECODABLE_ROLES = ("original", "second_capture", "sop_failure", "privacy_bait", "format")


@dataclass
class CohortManifest:
    root: Path
    seed: int
    size: int
    image_size: tuple[int, int]
    counts: dict[str, Any]
    patients: list[dict[str, Any]]
    lesions: list[dict[str, Any]]
    images: list[dict[str, Any]]
    duplicate_groups: list[list[str]] = field(default_factory=list)
    second_captures: list[list[str]] = field(default_factory=list)

    # -- paths --------------------------------------------------------------------------------
    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def metadata_csv(self) -> Path:
        return self.root / "metadata.csv"

    @property
    def truth_json(self) -> Path:
        return self.root / "truth.json"

    def path(self, image: str) -> Path:
        """The file of a record, by its image id (``CAP-00001``)."""
        return self.images_dir / self.image(image)["filename"]

    def mask_path(self, image: str) -> Path | None:
        mask = self.image(image)["mask"]
        return None if mask is None else self.root / mask

    # -- look-ups -----------------------------------------------------------------------------
    def image(self, image: str) -> dict[str, Any]:
        if not hasattr(self, "_by_image"):
            self._by_image = {r["image"]: r for r in self.images}
        return self._by_image[image]

    def lesion(self, lesion_id: str) -> dict[str, Any]:
        if not hasattr(self, "_by_lesion"):
            self._by_lesion = {r["lesion_id"]: r for r in self.lesions}
        return self._by_lesion[lesion_id]

    def by_role(self, role: str) -> list[dict[str, Any]]:
        return [r for r in self.images if r["role"] == role]

    @property
    def planted(self) -> list[dict[str, Any]]:
        """Every record that is not a plain photograph, with its expectation."""
        return [r for r in self.images if r["role"] != "original"]

    # -- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": "dermset.synthetic",
            "truth_version": TRUTH_VERSION,
            "seed": self.seed,
            "size": self.size,
            "image_size": list(self.image_size),
            "counts": self.counts,
            "duplicate_groups": self.duplicate_groups,
            "second_captures": self.second_captures,
            "patients": self.patients,
            "lesions": self.lesions,
            "images": self.images,
        }

    def write_truth(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", "utf-8")

    @classmethod
    def load(cls, root: str | Path) -> CohortManifest:
        root = Path(root)
        data = json.loads((root / "truth.json").read_text("utf-8"))
        if data.get("generator") != "dermset.synthetic":
            raise ValueError(f"{root / 'truth.json'} was not written by dermset.synthetic")
        return cls(
            root=root,
            seed=data["seed"],
            size=data["size"],
            image_size=tuple(data["image_size"]),  # type: ignore[arg-type]
            counts=data["counts"],
            patients=data["patients"],
            lesions=data["lesions"],
            images=data["images"],
            duplicate_groups=data["duplicate_groups"],
            second_captures=data["second_captures"],
        )


def summarise(plan: CohortPlan, facts: dict[str, dict[str, Any]], root: Path) -> CohortManifest:
    """Build the manifest from the plan and what rendering measured."""
    images = []
    for s in plan.shots:
        les = plan.lesion(s.lesion_id)
        rec: dict[str, Any] = {
            "image": s.image,
            "filename": s.filename,
            "patient_id": les.patient_id,
            "lesion_id": les.lesion_id,
            "diagnosis": les.diagnosis,
            "role": s.role,
            "kind": s.kind,
            "format": "jpeg" if facts[s.image].get("heic_unavailable") else s.format,
            "device": s.device,
            "acquisition_day": s.acquisition_day,
            "rotation": round(s.rotation, 2),
            "source": s.source.image if s.source is not None else None,
            "expect": pl.expectation(s.role, s.kind),
        }
        if "person" in s.params:
            rec["bait_person"] = s.params["person"]
        rec.update(facts[s.image])
        images.append(rec)

    groups: dict[str, list[str]] = {}
    for s in plan.shots:
        if s.role in ("exact_duplicate", "near_duplicate") and s.source is not None:
            groups.setdefault(s.source.image, [s.source.image]).append(s.image)
    seconds = [
        [s.source.image, s.image]
        for s in plan.shots
        if s.role == "second_capture" and s.source is not None
    ]

    lesions = []
    for les in plan.lesions:
        lesions.append(
            {
                "lesion_id": les.lesion_id,
                "patient_id": les.patient_id,
                "diagnosis": les.diagnosis,
                "diagnosis_name": TAXONOMY[les.diagnosis].name,
                "benign_malignant": TAXONOMY[les.diagnosis].malignancy.value,
                "clinical_diagnosis": les.clinical_diagnosis,
                "histopathology": les.histopathology,
                "anatom_site_general": les.anatom_site_general,
                "clin_size_long_diam_mm": les.clin_size_long_diam_mm,
                "size_recorded": les.size_recorded,
                "variant": les.variant,
                "structures": les.structures,
            }
        )
    patients = [
        {
            "patient_id": p.patient_id,
            "age": p.age,
            "sex": p.sex,
            "fitzpatrick_skin_type": p.fitzpatrick_skin_type,
            "device": p.device,
        }
        for p in plan.patients
    ]
    return CohortManifest(
        root=root,
        seed=plan.seed,
        size=plan.size,
        image_size=plan.image_size,
        counts=_counts(plan, images, groups),
        patients=patients,
        lesions=lesions,
        images=images,
        duplicate_groups=list(groups.values()),
        second_captures=seconds,
    )


def _counts(plan: CohortPlan, images, groups) -> dict[str, Any]:
    roles = Counter(r["role"] for r in images)
    lesions_by_dx = Counter(les.diagnosis for les in plan.lesions)
    unique = [r for r in images if r["role"] in DECODABLE_ROLES]
    ages = [p.age for p in plan.patients]
    malignant = [les for les in plan.lesions if les.diagnosis in MALIGNANT]
    return {
        "records": len(images),
        "files": len(images),
        "patients": len(plan.patients),
        "lesions": len(plan.lesions),
        "unique_images": len(unique),
        "duplicates_excluded": roles["exact_duplicate"] + roles["near_duplicate"],
        "exact_duplicates": roles["exact_duplicate"],
        "near_duplicates": roles["near_duplicate"],
        "duplicate_groups": len(groups),
        "bad_files": roles["bad_file"],
        "sop_failures": roles["sop_failure"],
        "second_captures": roles["second_capture"],
        "privacy_bait": roles["privacy_bait"],
        "format_oddities": roles["format"],
        "images_passing_sop": len(unique) - roles["sop_failure"],
        "lesions_by_diagnosis": dict(sorted(lesions_by_dx.items())),
        "unique_images_by_diagnosis": dict(sorted(Counter(r["diagnosis"] for r in unique).items())),
        "lesions_by_clinical_diagnosis": dict(
            sorted(Counter(les.clinical_diagnosis for les in plan.lesions).items())
        ),
        "clinical_label_accuracy": round(
            sum(les.clinical_diagnosis == les.diagnosis for les in plan.lesions)
            / len(plan.lesions),
            3,
        ),
        "malignant_lesions": len(malignant),
        "malignant_by_diagnosis": dict(sorted(Counter(les.diagnosis for les in malignant).items())),
        "histopathology_lesions": sum(les.histopathology for les in plan.lesions),
        "age": {"min": min(ages), "median": statistics.median(ages), "max": max(ages)},
        "female_share": round(sum(p.sex == "female" for p in plan.patients) / len(ages), 3),
        "by_format": dict(sorted(Counter(r["format"] for r in images).items())),
    }
