"""A simple baseline classifier trained on image statistics, for demos and sanity checks.

Not a clinical model: multinomial logistic regression on the colour and image statistics of
``image_stats``. It exists so that ``make demo`` can show an evaluation end to end and so a user
has a floor to compare a real model against. Predictions are out-of-fold: every image is
predicted by a model that never saw its patient (the release's folds when ``splits.csv`` has
them, otherwise patient-grouped stratified folds), so the evaluation is not optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dermset.analysis.image_stats import COLOUR_FEATURES, STATISTICS, statistics_table
from dermset.release.reader import Release

FEATURES = (*STATISTICS, *COLOUR_FEATURES)
DEFAULT_FOLDS = 5


@dataclass
class BaselineResult:
    predictions: pd.DataFrame  # ISIC challenge format: image + one column per category, every
    # image of the release (those without a usable image file get the class prevalence)
    folds: int
    fold_source: str  # "splits.csv" or "patient-grouped"
    skipped: list[str]  # images that could not be read


def _groups(release: Release, images: list[str]) -> np.ndarray:
    meta = release.metadata.loc[images]
    keys = []
    for image in images:
        patient = meta.at[image, "patient_id"] if "patient_id" in meta.columns else None
        lesion = meta.at[image, "lesion_id"] if "lesion_id" in meta.columns else None
        keys.append(patient if isinstance(patient, str) else lesion or image)
    return pd.factorize(pd.Series(keys, dtype=object))[0]


def _folds(
    release: Release, images: list[str], y: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray, str]:
    splits = release.splits
    if splits is not None and "fold" in splits.columns and "isic_id" in splits.columns:
        fold_of = splits.set_index("isic_id")["fold"]
        values = pd.to_numeric(fold_of.reindex(images), errors="coerce")
        if values.notna().all() and values.nunique() >= 2:
            return pd.factorize(values)[0], "splits.csv"
    groups = _groups(release, images)
    k = max(2, min(folds, len(np.unique(groups))))
    try:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        pairs = list(splitter.split(np.zeros(len(y)), y, groups))
    except ValueError:  # a class smaller than the folds: grouping still holds
        pairs = list(GroupKFold(n_splits=k).split(np.zeros(len(y)), y, groups))
    fold = np.empty(len(y), dtype=int)
    for i, (_, test) in enumerate(pairs):
        fold[test] = i
    return fold, "patient-grouped"


def baseline_predictions(
    release: Release, *, folds: int = DEFAULT_FOLDS, seed: int = 0, workers: int = 1
) -> BaselineResult:
    """Out-of-fold probabilities for every readable, labelled image of *release*."""
    codes = release.taxonomy.codes
    meta = release.metadata
    labelled = [i for i in meta.index if isinstance(meta.at[i, "diagnosis_category"], str)]
    jobs = [(i, release.image_paths[i], None) for i in labelled if i in release.image_paths]
    skipped = [f"{i}: no image file" for i in labelled if i not in release.image_paths]
    stats, errors = statistics_table(jobs, workers=workers)
    skipped += errors
    images = list(stats.index)
    if len(images) < 10:
        raise ValueError(f"only {len(images)} readable labelled images; a baseline needs 10+")
    x = stats.reindex(columns=list(FEATURES)).to_numpy(dtype=float)
    y = np.asarray([codes.index(meta.at[i, "diagnosis_category"]) for i in images])
    fold, source = _folds(release, images, y, folds, seed)
    probs = np.zeros((len(images), len(codes)))
    for f in np.unique(fold):
        train, test = fold != f, fold == f
        classes = np.unique(y[train])
        if len(classes) == 1:
            probs[np.ix_(test, classes)] = 1.0
            continue
        model = make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            LogisticRegression(C=0.5, class_weight="balanced", max_iter=2000),
        )
        model.fit(x[train], y[train])
        probs[np.ix_(test, classes)] = model.predict_proba(x[test])
    # images without a usable file (or label) get the class prevalence: the file must name
    # every image of the release, and the prior is the honest guess without pixels
    prior = np.bincount(y, minlength=len(codes)) / len(y)
    full = pd.DataFrame(np.tile(prior, (len(meta), 1)), index=meta.index, columns=codes)
    full.loc[images] = probs
    full = full.div(full.sum(axis=1), axis=0)
    full.index.name = "image"
    frame = full.reset_index()
    return BaselineResult(frame, len(np.unique(fold)), source, skipped)


def write_predictions(result: BaselineResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result.predictions.to_csv(path, index=False, float_format="%.7f")
    return path
