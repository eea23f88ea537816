"""The plan of a synthetic cohort: patients, lesions and the photographs taken of them.

Shaped after the study dermset implements (arXiv:2605.25168): 1,044 records → 1,026 unique
images of 443 patients aged 2–90 (median 38), 63 % female; nine diagnostic categories with 39
malignant lesions (18 melanoma, 15 BCC, 6 SCC, i.e. ≈ 3.8 %); some lesions photographed twice.
Counts per category are allocated exactly (largest remainder, at least one lesion per category),
not sampled, so a cohort of any size has the study's mix and a test can assert it.

Also decided here, per lesion: the clinician's stage-1 label (right about 85 % of the time, with
the confusions clinicians make: a suspicious nevus called melanoma, an SCC called an actinic
keratosis…), whether a histopathology result exists (every malignant lesion and every lesion a
clinician called malignant), and the site and size that fit the diagnosis. Pure planning: nothing
is rendered or written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dermset.protocol import Protocol
from dermset.synthetic.images import DEVICE_WEIGHTS, DEVICES, SKIN_TONES

#: Share of lesions per category (code of the default taxonomy). Malignant: 3.8 % as in the
#: study, split 18 : 15 : 6; the benign mix follows a dermoscopy clinic (nevi dominate).
CATEGORY_SHARES: dict[str, float] = {
    "NV": 0.552,
    "BKL": 0.17,
    "OTHER": 0.07,
    "VASC": 0.06,
    "AK": 0.06,
    "DF": 0.05,
    "MEL": 0.038 * 18 / 39,
    "BCC": 0.038 * 15 / 39,
    "SCC": 0.038 * 6 / 39,
}
#: The default protocol's taxonomy names the categories and says which are malignant and need
#: histopathology; the shares above are keyed by its codes.
TAXONOMY = Protocol().taxonomy()
MALIGNANT = frozenset(TAXONOMY.malignant_codes)
NEEDS_HISTOPATHOLOGY = frozenset(TAXONOMY.histopathology_codes)

#: Typical age of a patient with the lesion: older patients get the keratoses and cancers.
TYPICAL_AGE = {
    "NV": 30,
    "DF": 40,
    "OTHER": 42,
    "VASC": 45,
    "BKL": 60,
    "MEL": 58,
    "AK": 70,
    "BCC": 68,
    "SCC": 74,
}

SITES = (
    "head/neck",
    "upper extremity",
    "lower extremity",
    "anterior torso",
    "posterior torso",
    "lateral torso",
    "palms/soles",
    "oral/genital",
)
#: Where each category tends to sit (weights over SITES).
SITE_WEIGHTS: dict[str, tuple[float, ...]] = {
    "NV": (0.08, 0.15, 0.17, 0.22, 0.30, 0.05, 0.03, 0.0),
    "MEL": (0.15, 0.15, 0.22, 0.15, 0.28, 0.03, 0.02, 0.0),
    "BCC": (0.65, 0.05, 0.05, 0.12, 0.12, 0.01, 0.0, 0.0),
    "SCC": (0.55, 0.25, 0.12, 0.04, 0.04, 0.0, 0.0, 0.0),
    "AK": (0.75, 0.20, 0.03, 0.02, 0.0, 0.0, 0.0, 0.0),
    "BKL": (0.25, 0.10, 0.08, 0.22, 0.30, 0.05, 0.0, 0.0),
    "DF": (0.02, 0.15, 0.65, 0.08, 0.08, 0.02, 0.0, 0.0),
    "VASC": (0.10, 0.10, 0.15, 0.35, 0.25, 0.05, 0.0, 0.0),
    "OTHER": (0.20, 0.20, 0.20, 0.15, 0.15, 0.05, 0.03, 0.02),
}
#: Longest diameter in mm: (median, min, max).
SIZE_MM = {
    "NV": (5.0, 2.0, 12.0),
    "MEL": (9.0, 4.0, 25.0),
    "BCC": (8.0, 3.0, 20.0),
    "SCC": (10.0, 4.0, 25.0),
    "AK": (6.0, 3.0, 12.0),
    "BKL": (9.0, 4.0, 25.0),
    "DF": (6.0, 3.0, 10.0),
    "VASC": (4.0, 2.0, 10.0),
    "OTHER": (6.0, 2.0, 15.0),
}
#: The clinician's stage-1 label: probability of each wrong call for a true category.
CLINICAL_CONFUSION: dict[str, dict[str, float]] = {
    "NV": {"MEL": 0.05, "BKL": 0.03, "DF": 0.01},
    "MEL": {"NV": 0.15, "BKL": 0.05},
    "BCC": {"OTHER": 0.06, "AK": 0.04, "SCC": 0.03},
    "SCC": {"AK": 0.2, "BCC": 0.05},
    "AK": {"SCC": 0.08, "BKL": 0.05, "BCC": 0.03},
    "BKL": {"NV": 0.06, "MEL": 0.05, "AK": 0.02},
    "DF": {"NV": 0.1, "BCC": 0.03},
    "VASC": {"MEL": 0.03, "OTHER": 0.03},
    "OTHER": {"NV": 0.08, "BKL": 0.07, "BCC": 0.03},
}
FITZPATRICK = ("I", "II", "III", "IV", "V", "VI")
FITZPATRICK_WEIGHTS = (0.10, 0.40, 0.33, 0.12, 0.04, 0.01)
FEMALE_SHARE = 0.63
#: Age quantiles (fraction → years): 2–90, median 38, as in the study.
AGE_KNOTS = (
    (0.0, 2.0),
    (0.1, 14.0),
    (0.25, 26.0),
    (0.5, 38.0),
    (0.75, 55.0),
    (0.9, 68.0),
    (1.0, 90.0),
)
SECOND_CAPTURE_SHARE = 0.07  # of all records
MEAN_LESIONS_PER_PATIENT = 2.1


@dataclass
class Patient:
    patient_id: str  # the site's local id (dermset pseudonymises it on import)
    age: int
    sex: str
    fitzpatrick_skin_type: str | None  # None: not recorded
    skin: tuple[float, float, float]
    device: str
    hair: float
    hair_colour: str


@dataclass
class Lesion:
    lesion_id: str
    patient_id: str
    diagnosis: str  # true category code
    clinical_diagnosis: str  # the clinician's stage-1 label (category code)
    histopathology: bool  # a histopathology result exists (it states the true diagnosis)
    anatom_site_general: str
    clin_size_long_diam_mm: float
    size_recorded: bool
    seed: int  # owns the lesion's look (outline, colours, structures)
    variant: str = ""
    structures: list[str] = field(default_factory=list)

    @property
    def malignant(self) -> bool:
        return self.diagnosis in MALIGNANT


@dataclass
class Shot:
    """One record of the cohort: an image file (or what should have been one) and its row."""

    image: str  # the capture id (the CSV's image identifier)
    lesion_id: str
    role: str  # original | second_capture | sop_failure | exact_duplicate | ...
    seed: int
    acquisition_day: int
    device: str
    rotation: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0
    filename: str = ""
    format: str = "jpeg"
    source: Shot | None = None  # the shot this one copies or photographs again
    kind: str | None = None  # what was planted (transform, defect, bait…)
    params: dict = field(default_factory=dict)


@dataclass
class CohortPlan:
    seed: int
    size: int
    image_size: tuple[int, int]
    patients: list[Patient]
    lesions: list[Lesion]
    shots: list[Shot]

    def lesion(self, lesion_id: str) -> Lesion:
        return self._lesions[lesion_id]

    def patient(self, patient_id: str) -> Patient:
        return self._patients[patient_id]

    def __post_init__(self) -> None:
        self._lesions = {les.lesion_id: les for les in self.lesions}
        self._patients = {p.patient_id: p for p in self.patients}


def allocate(total: int, shares: dict[str, float], minimum: int = 1) -> dict[str, int]:
    """Split *total* by *shares* exactly (largest remainder), each key at least *minimum*."""
    keys = list(shares)
    weight = sum(shares.values())
    base = {k: max(minimum, int(total * shares[k] / weight)) for k in keys}
    while sum(base.values()) > total:  # the minimums overshot: take from the largest
        k = max(keys, key=lambda k: base[k])
        base[k] -= 1
    rest = sorted(
        keys, key=lambda k: -(total * shares[k] / weight - int(total * shares[k] / weight))
    )
    i = 0
    while sum(base.values()) < total:
        base[rest[i % len(rest)]] += 1
        i += 1
    return base


def _ages(rng: np.random.Generator, n: int) -> list[int]:
    q, a = zip(*AGE_KNOTS, strict=True)
    u = (np.arange(n) + rng.uniform(0, 1, n)) / n
    ages = np.rint(np.interp(u, q, a)).astype(int)
    if n >= 2:
        ages[0], ages[-1] = int(AGE_KNOTS[0][1]), int(AGE_KNOTS[-1][1])
    rng.shuffle(ages)
    return [int(x) for x in ages]


def _patients(rng: np.random.Generator, n_lesions: int) -> tuple[list[Patient], list[int]]:
    n = max(1, round(n_lesions / MEAN_LESIONS_PER_PATIENT))
    # Everyone has one lesion; the others go to patients of varying "lesion load" (some have
    # many nevi), so the spread is realistic while the patient count is exact.
    load = rng.gamma(1.0, 1.0, n)
    extra = rng.choice(n, size=n_lesions - n, p=load / load.sum())
    counts = [1 + int(k) for k in np.bincount(extra, minlength=n)]
    ages = _ages(rng, n)
    n_female = round(n * FEMALE_SHARE)
    sexes = ["female"] * n_female + ["male"] * (n - n_female)
    rng.shuffle(sexes)
    patients = []
    for i in range(n):
        fitz = str(rng.choice(FITZPATRICK, p=FITZPATRICK_WEIGHTS))
        tone = np.asarray(SKIN_TONES[fitz]) * (1 + rng.normal(0, 0.025, 3))
        male = sexes[i] == "male"
        if ages[i] > 60 and rng.random() < 0.6:
            hair_colour = "grey"
        elif fitz in ("I", "II") and rng.random() < 0.25:
            hair_colour = "blond"
        else:
            hair_colour = "dark" if rng.random() < 0.6 else "brown"
        patients.append(
            Patient(
                patient_id=f"PT-{i + 1:04d}",
                age=ages[i],
                sex=sexes[i],
                fitzpatrick_skin_type=fitz if rng.random() > 0.03 else None,
                skin=tuple(float(v) for v in np.clip(tone, 0.05, 1.0)),  # type: ignore[arg-type]
                device=DEVICES[int(rng.choice(len(DEVICES), p=DEVICE_WEIGHTS))].name,
                hair=float(np.clip(rng.normal(0.45 if male else 0.2, 0.15), 0.0, 1.0)),
                hair_colour=hair_colour,
            )
        )
    return patients, counts


def _clinical_label(rng: np.random.Generator, truth: str) -> str:
    wrong = CLINICAL_CONFUSION.get(truth, {})
    u = rng.random()
    for code, p in wrong.items():
        if u < p:
            return code
        u -= p
    return truth


def _size_mm(rng: np.random.Generator, code: str) -> float:
    median, lo, hi = SIZE_MM[code]
    return float(np.clip(round(median * np.exp(rng.normal(0, 0.35)), 1), lo, hi))


def plan_lesions(rng: np.random.Generator, n_lesions: int) -> tuple[list[Patient], list[Lesion]]:
    """Patients and their lesions, with the study's category mix and age structure."""
    if n_lesions < len(CATEGORY_SHARES):
        raise ValueError(f"a cohort needs at least {len(CATEGORY_SHARES)} lesions")
    patients, counts = _patients(rng, n_lesions)
    cats = [c for c, k in allocate(n_lesions, CATEGORY_SHARES).items() for _ in range(k)]
    # Match lesions to patients by age: sort both by a noisy age and pair them off.
    cat_keys = [TYPICAL_AGE.get(c, 45) + rng.normal(0, 14) for c in cats]
    slots = [i for i, k in enumerate(counts) for _ in range(k)]
    slot_keys = [patients[i].age + rng.normal(0, 10) for i in slots]
    by_cat = [cats[i] for i in np.argsort(cat_keys, kind="stable")]
    by_slot = [slots[i] for i in np.argsort(slot_keys, kind="stable")]
    pairs = list(zip(by_slot, by_cat, strict=True))
    order = rng.permutation(len(pairs))
    pairs = sorted((pairs[i] for i in order), key=lambda p: p[0])  # lesions grouped by patient
    lesions = []
    for n, (pi, code) in enumerate(pairs):
        clinical = _clinical_label(rng, code)
        site = SITES[
            int(rng.choice(len(SITES), p=np.asarray(SITE_WEIGHTS[code]) / sum(SITE_WEIGHTS[code])))
        ]
        lesions.append(
            Lesion(
                lesion_id=f"LS-{n + 1:05d}",
                patient_id=patients[pi].patient_id,
                diagnosis=code,
                clinical_diagnosis=clinical,
                histopathology=code in NEEDS_HISTOPATHOLOGY or clinical in NEEDS_HISTOPATHOLOGY,
                anatom_site_general=site,
                clin_size_long_diam_mm=_size_mm(rng, code),
                size_recorded=rng.random() > 0.05,
                seed=int(rng.integers(1 << 31)),
            )
        )
    return patients, lesions


def _capture_pose(rng: np.random.Generator) -> dict:
    """Where the lesion sits in a normal photograph: near the centre, any rotation."""
    r, a = rng.uniform(0, 0.12), rng.uniform(0, 2 * np.pi)
    return {
        "rotation": float(rng.uniform(0, 360)),
        "shift": (float(r * np.cos(a)), float(r * np.sin(a))),
        "scale": float(rng.uniform(0.95, 1.05)),
    }


def plan_shots(
    rng: np.random.Generator,
    patients: list[Patient],
    lesions: list[Lesion],
    n_second: int,
) -> list[Shot]:
    """One original photograph per lesion, and second captures for *n_second* lesions.

    A second capture is a new photograph of the same lesion (rotated, shifted, later or on the
    same day), never a copy: dermset must keep both.
    """
    by_patient = {p.patient_id: p for p in patients}
    visit = {p.patient_id: int(rng.integers(0, 400)) for p in patients}
    shots = []
    for les in lesions:
        pat = by_patient[les.patient_id]
        shots.append(
            Shot(
                image="",
                lesion_id=les.lesion_id,
                role="original",
                seed=int(rng.integers(1 << 31)),
                acquisition_day=visit[pat.patient_id],
                device=pat.device,
                **_capture_pose(rng),
            )
        )
    for i in sorted(rng.choice(len(lesions), size=min(n_second, len(lesions)), replace=False)):
        first = shots[i]
        follow_up = rng.random() < 0.4
        pose = _capture_pose(rng)
        pose["rotation"] = float((first.rotation + rng.normal(0, 15)) % 360)
        pose["scale"] = float(first.scale * rng.uniform(0.9, 1.1))
        shots.append(
            Shot(
                image="",
                lesion_id=first.lesion_id,
                role="second_capture",
                seed=int(rng.integers(1 << 31)),
                acquisition_day=first.acquisition_day
                + (int(rng.integers(60, 200)) if follow_up else 0),
                device=first.device,
                source=first,
                kind="follow-up" if follow_up else "same visit",
                **pose,
            )
        )
    return shots


def second_capture_count(size: int) -> int:
    return max(2, round(size * SECOND_CAPTURE_SHARE))
