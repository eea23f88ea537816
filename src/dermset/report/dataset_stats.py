"""The study's numbers, computed from the registry: what ``stats.json`` holds.

Everything the dataset paper reports about its cohort, in the same order: the flow from records
to unique images, patients and images per patient, age, sex, Fitzpatrick type, site, device,
the categories with benign/malignant and histological verification, the verification stages,
structure frequencies per category, inter-rater agreement and the SOP quality measures.
The dataset is the images with status ``active``; the flow and the SOP measures also count the
excluded records. Figures and the HTML report are drawn from this dict alone, so a number in the
report is always a number in ``stats.json``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from dermset.protocol import Protocol
from dermset.registry.quality_tables import QualityCheck
from dermset.registry.tables import (
    Acquisition,
    ClinicalAnnotation,
    Consensus,
    Histopathology,
    Image,
    Lesion,
    Patient,
    Quarantine,
    Review,
)
from dermset.verification.agreement_report import agreement_report
from dermset.verification.findings import final_structures
from dermset.verification.gate import release_gate

MISSING = "missing"
#: structure sources in order of authority: the consensus of the reviewers beats the clinician
QUALITY_BINS = 20


def _int(x: Any) -> int:
    return int(x or 0)


def _num(x: Any, digits: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else round(x, digits)


def _counts(series: pd.Series, order: list[str] | None = None) -> dict[str, int]:
    """Value counts with missing values as ``missing``; *order* first, then by count."""
    counts = series.fillna(MISSING).astype(str).value_counts()
    out: dict[str, int] = {}
    for key in order or []:
        if key in counts.index:
            out[key] = int(counts[key])
    for key, n in counts.items():
        if key not in out and key != MISSING:
            out[str(key)] = int(n)
    if MISSING in counts.index:
        out[MISSING] = int(counts[MISSING])
    return out


def _distribution(values: pd.Series) -> dict[str, Any]:
    """min/median/IQR/max of a count per group, and how many groups have each count."""
    if values.empty:
        return {"n": 0}
    q1, med, q3 = np.percentile(values.to_numpy(), [25, 50, 75])
    return {
        "n": len(values),
        "min": int(values.min()),
        "q1": _num(q1),
        "median": _num(med),
        "q3": _num(q3),
        "max": int(values.max()),
        "counts": {str(k): int(v) for k, v in sorted(values.value_counts().items())},
    }


def active_frame(session: Session) -> pd.DataFrame:
    """One row per image in the dataset with the fields the statistics use."""
    q = (
        select(
            Image.id.label("pk"),
            Image.image_id,
            Patient.pseudonym.label("patient_id"),
            Lesion.pseudonym.label("lesion_id"),
            Image.lesion_id.label("lesion_pk"),
            Acquisition.age_approx,
            Acquisition.sex,
            Acquisition.fitzpatrick_skin_type,
            Lesion.anatom_site_general,
            Acquisition.image_type,
            Acquisition.dermoscopic_type,
            Acquisition.acquisition_device,
            Image.diagnosis,
            Image.benign_malignant,
            Image.diagnosis_confirm_type,
            Image.verification_stage,
        )
        .select_from(Image)
        .outerjoin(Acquisition, Acquisition.image_id == Image.id)
        .outerjoin(Lesion, Lesion.id == Image.lesion_id)
        .outerjoin(Patient, Patient.id == Image.patient_id)
        .where(Image.status == "active")
        .order_by(Image.id)
    )
    rows = session.execute(q.execution_options(yield_per=10_000)).all()
    columns = list(q.selected_columns.keys())
    frame = pd.DataFrame.from_records(rows, columns=columns)
    return frame.astype(object).where(frame.notna(), None)


# -- sections --------------------------------------------------------------------------------
def flow(session: Session) -> dict[str, int]:
    """Records → duplicates excluded → SOP failures → withdrawn → unique images."""
    by_status = dict(
        session.execute(select(Image.status, func.count()).group_by(Image.status)).all()
    )
    quarantined = session.execute(
        select(func.count())
        .select_from(Quarantine)
        .where(Quarantine.kind == "image", Quarantine.resolved.is_(False))
    ).scalar()
    known = {"active", "duplicate", "sop_failed", "withdrawn"}
    return {
        "records": _int(sum(by_status.values())),
        "duplicates_excluded": _int(by_status.get("duplicate")),
        "sop_failed": _int(by_status.get("sop_failed")),
        "withdrawn": _int(by_status.get("withdrawn")),
        "other_excluded": _int(sum(n for k, n in by_status.items() if k not in known)),
        "unique_images": _int(by_status.get("active")),
        "quarantined_files": _int(quarantined),
    }


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def exclusions(f: dict[str, int]) -> list[tuple[int, str]]:
    """The exclusion steps of the flow, in order; a step that excluded nothing is left out
    (except duplicates, which the study always reports)."""
    steps = [
        (
            f["duplicates_excluded"],
            plural(f["duplicates_excluded"], "duplicate excluded", "duplicates excluded"),
        )
    ]
    for key, one, many in (
        ("sop_failed", "failed the acquisition SOP", "failed the acquisition SOP"),
        ("withdrawn", "withdrawn", "withdrawn"),
        ("other_excluded", "otherwise excluded", "otherwise excluded"),
    ):
        if f.get(key):
            steps.append((f[key], plural(f[key], one, many)))
    return steps


def flow_line(f: dict[str, int], patients: int | None = None) -> str:
    """The flow as the study writes it: "1,044 records → 18 duplicates excluded → …"."""
    last = plural(f["unique_images"], "unique image", "unique images")
    if patients:
        last += " of " + plural(patients, "patient", "patients")
    steps = [plural(f["records"], "record", "records"), *(t for _, t in exclusions(f)), last]
    return " → ".join(steps)


def cohort(session: Session, df: pd.DataFrame) -> dict[str, Any]:
    """Patients and lesions, images per patient and per lesion."""
    with_patient = df[df["patient_id"].notna()]
    per_patient = with_patient.groupby("patient_id").size()
    per_lesion = df[df["lesion_id"].notna()].groupby("lesion_id").size()
    patient_sex = dict(
        session.execute(
            select(func.coalesce(Patient.sex, MISSING), func.count(distinct(Patient.id)))
            .join(Image, Image.patient_id == Patient.id)
            .where(Image.status == "active")
            .group_by(Patient.sex)
        ).all()
    )
    return {
        "patients": int(per_patient.size),
        "images_with_patient": len(with_patient),
        "images_without_patient": len(df) - len(with_patient),
        "images_per_patient": _distribution(per_patient),
        "lesions": int(per_lesion.size),
        "images_per_lesion": _distribution(per_lesion),
        "patient_sex": {k: _int(v) for k, v in sorted(patient_sex.items())},
    }


def ages(df: pd.DataFrame) -> dict[str, Any]:
    """Age (``age_approx``, per image): range, median, IQR and the distribution by sex."""
    known = pd.to_numeric(df["age_approx"], errors="coerce").dropna()
    out: dict[str, Any] = {"known": len(known), "missing": len(df) - len(known)}
    if len(known):
        q1, med, q3 = np.percentile(known.to_numpy(), [25, 50, 75])
        out.update(
            min=int(known.min()), q1=_num(q1), median=_num(med), q3=_num(q3), max=int(known.max())
        )
    by_sex: dict[str, dict[str, int]] = {}
    sexes = df["sex"].fillna(MISSING)
    for sex in sorted(sexes.unique()):
        values = pd.to_numeric(df.loc[sexes == sex, "age_approx"], errors="coerce").dropna()
        by_sex[str(sex)] = {str(int(a)): int(n) for a, n in sorted(values.value_counts().items())}
    out["by_sex"] = by_sex
    return out


def categories(df: pd.DataFrame, protocol: Protocol) -> dict[str, Any]:
    """Per category: images, lesions, patients, and how many are histologically verified."""
    taxonomy = protocol.taxonomy()
    rows = []
    for cat in taxonomy.categories:
        mine = df[df["diagnosis"] == cat.code]
        verified = mine[mine["verification_stage"] == "histopathology"]
        rows.append(
            {
                "code": cat.code,
                "name": cat.name,
                "malignancy": cat.malignancy.value,
                "requires_histopathology": cat.requires_histopathology,
                "images": len(mine),
                "lesions": int(mine["lesion_id"].nunique()),
                "patients": int(mine["patient_id"].nunique()),
                "histopathology_images": len(verified),
                "histopathology_lesions": int(verified["lesion_id"].nunique()),
            }
        )
    malignant = [r for r in rows if r["malignancy"] == "malignant"]
    mal_df = df[df["diagnosis"].isin([r["code"] for r in malignant])]
    # a lesion counts as verified when it is verified in at least one of its images
    mal_histo = mal_df[mal_df["verification_stage"] == "histopathology"]
    return {
        "categories": rows,
        "unlabelled": int(df["diagnosis"].isna().sum()),
        "benign_malignant": _counts(
            df["benign_malignant"], ["benign", "malignant", "indeterminate"]
        ),
        "malignant": {
            "images": len(mal_df),
            "lesions": int(mal_df["lesion_id"].nunique()),
            "histopathology_images": len(mal_histo),
            "histopathology_lesions": int(mal_histo["lesion_id"].nunique()),
            "by_category": {r["code"]: r["histopathology_lesions"] for r in malignant},
        },
    }


def verification(session: Session, df: pd.DataFrame, protocol: Protocol) -> dict[str, Any]:
    """Images per verification stage, the stage-by-stage funnel, and the release gate."""
    active = Image.status == "active"

    def count(q) -> int:
        return _int(session.execute(q).scalar())

    consensus = dict(
        session.execute(
            select(Consensus.status, func.count())
            .join(Image, Image.id == Consensus.image_id)
            .where(active)
            .group_by(Consensus.status)
        ).all()
    )
    histo_images = count(
        select(func.count(Image.id))
        .join(Histopathology, Histopathology.lesion_id == Image.lesion_id)
        .where(active)
    )
    blockers = Counter(b.kind for b in release_gate(session, protocol))
    stages = ["clinical", "consensus", "adjudicated", "histopathology", "follow-up", "confocal"]
    return {
        "by_stage": _counts(df["verification_stage"], stages),
        "funnel": {
            "images": len(df),
            "clinical_annotation": count(
                select(func.count()).select_from(ClinicalAnnotation).join(Image).where(active)
            ),
            "reviews_complete": _int(sum(consensus.values())),
            "consensus": _int(consensus.get("consensus")),
            "adjudicated": _int(consensus.get("adjudicated")),
            "awaiting_adjudication": _int(consensus.get("adjudication")),
            "histopathology_entered": histo_images,
            "histopathology_stage": int((df["verification_stage"] == "histopathology").sum()),
        },
        "reviews_submitted": count(
            select(func.count()).select_from(Review).join(Image).where(active)
        ),
        "release_blockers": dict(sorted(blockers.items())),
    }


def structures(session: Session, df: pd.DataFrame, protocol: Protocol) -> dict[str, Any]:
    """How often each structure was seen in the images of each category."""
    final = final_structures(session)
    codes = protocol.taxonomy().codes
    diagnosis = dict(zip(df["pk"], df["diagnosis"], strict=True))
    images: Counter[str] = Counter()
    table: dict[str, Counter[str]] = {c: Counter() for c in codes}
    sources: Counter[str] = Counter()
    for pk, (source, found) in final.items():
        dx = diagnosis.get(pk)
        if dx not in table:
            continue
        images[dx] += 1
        sources[source] += 1
        table[dx].update(found)
    vocabulary = protocol.structure_vocabulary().codes
    used = [s for s in vocabulary if any(table[c][s] for c in codes)]
    return {
        "annotated_images": int(sum(images.values())),
        "by_source": dict(sorted(sources.items())),
        "structures": used,
        "by_category": {
            c: {"images": images[c], "counts": {s: table[c][s] for s in used if table[c][s]}}
            for c in codes
        },
    }


def agreement(session: Session, protocol: Protocol, n_bootstrap: int) -> dict[str, Any] | None:
    """Inter-rater agreement of the specialists, and every review against the final label."""
    n_reviews = session.execute(select(func.count()).select_from(Review)).scalar()
    if not n_reviews:
        return None
    report = agreement_report(session, protocol, n_bootstrap=n_bootstrap).to_dict()
    codes = protocol.taxonomy().codes
    index = {c: i for i, c in enumerate(codes)}
    matrix = np.zeros((len(codes), len(codes)), dtype=int)
    for reviewed, final in session.execute(
        select(Review.diagnosis, Image.diagnosis)
        .join(Image, Image.id == Review.image_id)
        .where(Image.status == "active", Image.diagnosis.is_not(None))
    ):
        if reviewed in index and final in index:
            matrix[index[final], index[reviewed]] += 1
    report["review_vs_final"] = {
        "labels": codes,
        "rows": "final label",
        "columns": "review",
        "matrix": matrix.tolist(),
    }
    return report


def quality(session: Session, protocol: Protocol) -> dict[str, Any]:
    """SOP measures of every image record that was measured (excluded ones included)."""
    verdicts = dict(
        session.execute(
            select(func.coalesce(Image.quality_verdict, "unmeasured"), func.count()).group_by(
                Image.quality_verdict
            )
        ).all()
    )
    values: dict[str, list[float]] = defaultdict(list)
    per_check: dict[str, Counter[str]] = defaultdict(Counter)
    for check, value, verdict in session.execute(
        select(QualityCheck.check, QualityCheck.value, QualityCheck.verdict).execution_options(
            yield_per=20_000
        )
    ):
        per_check[check][verdict] += 1
        if value is None:
            per_check[check]["unmeasured"] += 1
        else:
            values[check].append(float(value))
    checks: dict[str, Any] = {}
    for check in sorted(per_check):
        limits = protocol.sop.checks.get(check)
        v = np.asarray(values.get(check, []), dtype=float)
        entry: dict[str, Any] = {
            "n": int(sum(per_check[check][k] for k in ("pass", "warn", "fail"))),
            "pass": per_check[check]["pass"],
            "warn": per_check[check]["warn"],
            "fail": per_check[check]["fail"],
            "unmeasured": per_check[check]["unmeasured"],
        }
        if limits is not None:
            entry.update(
                warn_limit=limits.warn,
                fail_limit=limits.fail,
                higher_is_better=limits.higher_is_better,
                description=limits.description,
            )
        if v.size:
            q = np.percentile(v, [0, 25, 50, 75, 100])
            entry.update(
                min=_num(q[0]), q1=_num(q[1]), median=_num(q[2]), q3=_num(q[3]), max=_num(q[4])
            )
            counts, edges = np.histogram(v, bins=QUALITY_BINS)
            entry["histogram"] = {
                "edges": [_num(e, 6) for e in edges],
                "counts": counts.astype(int).tolist(),
            }
        checks[check] = entry
    order = ["pass", "warn", "fail", "unmeasured"]
    ranked = sorted(verdicts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9)
    return {"verdicts": {k: _int(n) for k, n in ranked}, "checks": checks}


def dataset_stats(
    session: Session, protocol: Protocol, *, n_bootstrap: int = 1000
) -> dict[str, Any]:
    """Every number of the dataset report (the content of ``stats.json``)."""
    df = active_frame(session)
    f = flow(session)
    c = cohort(session, df)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "protocol": {"name": protocol.name, "version": protocol.version},
        "flow": f,
        "flow_line": flow_line(f, c["patients"]),
        "cohort": c,
        "age": ages(df),
        "sex": _counts(df["sex"], ["female", "male"]),
        "fitzpatrick_skin_type": _counts(
            df["fitzpatrick_skin_type"], ["I", "II", "III", "IV", "V", "VI"]
        ),
        "anatom_site_general": _counts(df["anatom_site_general"]),
        "acquisition_device": _counts(df["acquisition_device"]),
        "image_type": _counts(df["image_type"]),
        "dermoscopic_type": _counts(df["dermoscopic_type"]),
        "diagnosis": categories(df, protocol),
        "verification": verification(session, df, protocol),
        "structures": structures(session, df, protocol),
        "agreement": agreement(session, protocol, n_bootstrap),
        "quality": quality(session, protocol),
    }
