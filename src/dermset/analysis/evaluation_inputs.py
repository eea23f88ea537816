"""Building ``EvalData`` from a release, or from an ISIC ground-truth file, plus predictions."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from dermset.analysis.bootstrap import clusters_from
from dermset.analysis.evaluation import EvalData
from dermset.analysis.predictions import (
    PredictionError,
    align_predictions,
    read_probability_table,
    truth_from_table,
)
from dermset.analysis.subgroups import SUBGROUP_FIELDS
from dermset.analysis.tables import read_metadata_table
from dermset.model.problems import Problem
from dermset.model.taxonomy import Taxonomy, UnknownDiagnosis
from dermset.release.reader import Release

COVARIATES = [column for _, column in SUBGROUP_FIELDS]
#: verification stages that are more than one clinician's label
VERIFIED_STAGES = {"consensus", "adjudicated", "histopathology", "follow-up", "confocal"}


def _covariates(frame: pd.DataFrame, images: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=images)
    for column in COVARIATES:
        if column in frame.columns:
            out[column] = frame[column].reindex(images).to_numpy()
    return out


def _coverage_notes(data: EvalData) -> None:
    uncovered = [c for c in data.codes if c not in data.covered]
    if uncovered:
        n = int(np.isin(data.labels, [data.codes.index(c) for c in uncovered]).sum())
        data.notes.append(
            f"the predictions do not cover {', '.join(uncovered)}; the multiclass metrics use "
            f"the {len(data.covered)} covered categories and leave out {n} image(s) of the "
            "others, which still count in the malignant-vs-benign metrics"
        )
    if not any(c in data.malignant for c in data.covered):
        data.notes.append("no predicted category is malignant: malignancy metrics are skipped")
    unit = data.clusters.unit
    if unit == "image":
        data.notes.append(
            "each image is its own bootstrap cluster: no patient or lesion ids are known "
            "(with --truth, add --metadata), so intervals are too narrow if patients repeat"
        )
    elif unit != "patient":
        data.notes.append(
            f"bootstrap clusters are {unit}s: some images carry no patient id, so intervals "
            "may be too narrow where one patient has several lesions"
        )


def from_release(
    release: Release,
    predictions: str | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    verified_only: bool = False,
) -> EvalData:
    """Truth from the release's verified categories; predictions must name every image."""
    meta = release.metadata
    taxonomy = release.taxonomy
    codes = taxonomy.codes
    table = read_probability_table(predictions)
    preds = align_predictions(table, codes, taxonomy, list(meta.index), column_map)
    keep = meta["diagnosis_category"].notna().to_numpy()
    notes = []
    if not keep.all():
        notes.append(f"{int((~keep).sum())} image(s) without a category are left out")
    if verified_only:
        stage = meta.get("verification_stage", pd.Series(index=meta.index, dtype=object))
        verified = stage.isin(VERIFIED_STAGES).to_numpy()
        notes.append(
            f"--verified-only: {int((keep & ~verified).sum())} image(s) with only a clinical "
            "(or no) verification stage are left out"
        )
        keep = keep & verified
    rows = np.flatnonzero(keep)
    if not len(rows):
        raise PredictionError(
            [Problem("no images left to evaluate", rule="empty", file=release.path.name)]
        )
    images = [preds.images[i] for i in rows]
    sub = meta.loc[images]
    labels = np.asarray([codes.index(c) for c in sub["diagnosis_category"]], dtype=int)
    data = EvalData(
        images=images,
        codes=codes,
        names={c.code: c.name for c in taxonomy.categories},
        labels=labels,
        probabilities=preds.probabilities[rows],
        covered=preds.covered,
        malignant=taxonomy.malignant_codes,
        clusters=clusters_from(images, sub.get("patient_id"), sub.get("lesion_id")),
        covariates=_covariates(sub, images),
        source={
            "release": release.name,
            "release_path": str(release.path),
            "predictions": preds.file,
            "column_map": preds.column_map,
            "verified_only": verified_only,
        },
        notes=notes,
    )
    _coverage_notes(data)
    return data


def _names_and_malignant(
    codes: list[str], malignant: Collection[str] | None
) -> tuple[dict[str, str], set[str]]:
    taxonomy = Taxonomy.default()
    names: dict[str, str] = {}
    resolved_malignant: set[str] = set()
    for code in codes:
        try:
            cat = taxonomy.resolve(code)
        except UnknownDiagnosis:
            names[code] = code
            continue
        names[code] = cat.name
        if cat.is_malignant:
            resolved_malignant.add(code)
    if malignant is not None:
        unknown = [c for c in malignant if c not in codes]
        if unknown:
            raise PredictionError(
                [
                    Problem(
                        f"--malignant names {', '.join(unknown)}, which the ground truth does "
                        f"not have ({', '.join(codes)})",
                        rule="unknown_class",
                    )
                ]
            )
        resolved_malignant = set(malignant)
    return names, resolved_malignant


def from_truth(
    truth: str | Path,
    predictions: str | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    metadata: str | Path | None = None,
    mapping: str | None = None,
    malignant: Collection[str] | None = None,
) -> EvalData:
    """ISIC ground truth (one-hot per category) + predictions; optional metadata table for
    patient/lesion clusters and subgroups (e.g. HAM10000_metadata.csv for ISIC 2018 task 3)."""
    truth_table = read_probability_table(truth, kind="truth", check_sum=False)
    gt = truth_from_table(truth_table)
    codes = gt.codes
    names, malignant_codes = _names_and_malignant(codes, malignant)
    default = Taxonomy.default()
    pred_table = read_probability_table(predictions)
    dropped = [i for i in truth_table.images if i not in set(gt.images)]
    preds = align_predictions(pred_table, codes, default, gt.images + dropped, column_map)
    n = len(gt.images)
    notes = [f"{len(dropped)} image(s) with score_weight 0 are not scored"] if dropped else []
    covariates = None
    patient = lesion = None
    source = {"truth": gt.file, "predictions": preds.file, "column_map": preds.column_map}
    if metadata is not None:
        table = read_metadata_table(metadata, mapping, default)
        frame = table.frame
        matched = int(frame.index.isin(gt.images).sum())
        if matched == 0:
            raise PredictionError(
                [
                    Problem(
                        "no image of the ground truth appears in the metadata table",
                        rule="unknown_image",
                        file=table.name,
                    )
                ]
            )
        notes.append(f"metadata {table.name} ({table.mapping}): {matched} of {n} images matched")
        covariates = _covariates(frame, gt.images)
        patient = frame["patient_id"].reindex(gt.images)
        lesion = frame["lesion_id"].reindex(gt.images)
        source["metadata"] = table.name
    data = EvalData(
        images=gt.images,
        codes=codes,
        names=names,
        labels=gt.labels,
        probabilities=preds.probabilities[:n],
        covered=preds.covered,
        malignant=malignant_codes,
        clusters=clusters_from(gt.images, patient, lesion),
        covariates=covariates,
        source=source,
        notes=notes,
    )
    _coverage_notes(data)
    return data
