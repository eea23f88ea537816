"""`dermset evaluate`, `dermset shift`, `dermset interpret`, `dermset baseline`: using a release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dermset.cli.analysis_views import (
    headline_table,
    show_evaluation,
    show_interpretation,
    show_shift,
)
from dermset.cli.common import CliError, JsonOpt, console, print_json

OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder for the HTML report, JSON and figures"),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Prediction column → category, e.g. --map AKIEC=AK (repeat; COLUMN= drops a column)",
    ),
]


def _user_errors() -> tuple[type[Exception], ...]:
    from dermset.analysis.predictions import PredictionError
    from dermset.analysis.tables import MetadataTableError
    from dermset.release.reader import ReleaseError

    return (PredictionError, ReleaseError, MetadataTableError)


def evaluate(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="RELEASE PREDICTIONS.csv, or only PREDICTIONS.csv together with --truth",
            metavar="[RELEASE] PREDICTIONS.csv",
            show_default=False,
        ),
    ],
    truth: Annotated[
        Path | None,
        typer.Option(help="Ground truth in the ISIC challenge format (one-hot per category)"),
    ] = None,
    metadata: Annotated[
        Path | None,
        typer.Option(help="With --truth: a metadata table for patient/lesion ids and subgroups"),
    ] = None,
    mapping: Annotated[
        str | None, typer.Option(help="Mapping of --metadata (default: detected from its header)")
    ] = None,
    out: OutOpt = None,
    verified_only: Annotated[
        bool,
        typer.Option("--verified-only", help="Only labels verified beyond the clinical stage"),
    ] = False,
    column_map: MapOpt = None,
    malignant: Annotated[
        str | None,
        typer.Option(help="With --truth: comma-separated malignant categories (default: taxonomy)"),
    ] = None,
    replicates: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a model's predictions on a release: metrics with patient-level 95 % CIs."""
    from dermset.analysis.evaluation import evaluate as run_evaluation
    from dermset.analysis.evaluation_inputs import from_release, from_truth
    from dermset.analysis.predictions import parse_column_map
    from dermset.release.reader import load_release

    if replicates < 0:
        raise CliError("--bootstrap must be >= 0")
    try:
        mapping_items = parse_column_map(column_map)
        if truth is not None:
            if len(paths) != 1:
                raise CliError("with --truth give only the predictions file")
            if verified_only:
                raise CliError("--verified-only needs a release (its verification_stage column)")
            data = from_truth(
                truth,
                paths[0],
                column_map=mapping_items,
                metadata=metadata,
                mapping=mapping,
                malignant=[c.strip() for c in malignant.split(",")] if malignant else None,
            )
        else:
            if len(paths) != 2:
                raise CliError(
                    "give RELEASE PREDICTIONS.csv (or --truth TRUTH.csv PREDICTIONS.csv)"
                )
            if metadata is not None or malignant is not None:
                raise CliError("--metadata and --malignant go with --truth; a release has both")
            data = from_release(
                load_release(paths[0]),
                paths[1],
                column_map=mapping_items,
                verified_only=verified_only,
            )
    except _user_errors() as exc:
        raise CliError(str(exc)) from None
    result = run_evaluation(data, replicates=replicates, seed=seed)
    if out is not None:
        from dermset.report.evaluation_html import evaluation_report

        written = evaluation_report(result).write(out, "evaluation")
        result["report"] = {k: str(v) for k, v in written.items()}
    if as_json:
        print_json(result)
        return
    show_evaluation(result)
    if out is not None:
        console.print(f"report: {result['report']['html']}  data: {result['report']['json']}")


def shift(
    release: Annotated[Path, typer.Argument(help="Release folder")],
    reference: Annotated[
        Path,
        typer.Option(
            help="Another release folder, or a metadata table (HAM10000, PAD-UFES-20, ISIC CSV)"
        ),
    ],
    mapping: Annotated[
        str | None, typer.Option(help="Mapping of a reference table (default: detected)")
    ] = None,
    embeddings: Annotated[
        Path | None, typer.Option(help="Embeddings of the release's images (.npy / .npz)")
    ] = None,
    reference_embeddings: Annotated[
        Path | None, typer.Option(help="Embeddings of the reference's images (.npy / .npz)")
    ] = None,
    images: Annotated[
        bool, typer.Option("--images/--no-images", help="Compare image statistics")
    ] = True,
    permutations: Annotated[int, typer.Option(help="Permutations for the tests")] = 100,
    seed: Annotated[int, typer.Option(help="Seed for permutations")] = 0,
    workers: Annotated[int, typer.Option(help="Processes decoding images")] = 1,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare a release with another dataset: labels, covariates, images, embeddings."""
    from dermset.analysis.image_shift import load_embeddings
    from dermset.analysis.shift import shift as run_shift
    from dermset.analysis.sides import load_side, side_from_release
    from dermset.release.reader import load_release

    if (embeddings is None) != (reference_embeddings is None):
        raise CliError("give both --embeddings and --reference-embeddings, or neither")
    try:
        rel = load_release(release)
        a = side_from_release(rel)
        b = load_side(reference, mapping, rel.taxonomy)
        pair = None
        if embeddings is not None and reference_embeddings is not None:
            pair = (load_embeddings(embeddings, a), load_embeddings(reference_embeddings, b))
        result = run_shift(
            a,
            b,
            images=images,
            embeddings=pair,
            permutations=permutations,
            seed=seed,
            workers=workers,
        )
    except (*_user_errors(), ValueError) as exc:
        raise CliError(str(exc)) from None
    if out is not None:
        from dermset.report.shift_html import shift_report

        report = shift_report(result)
        written = report.write(out, "shift")
        result = report.data
        result["report"] = {k: str(v) for k, v in written.items()}
    elif result.get("images"):
        result["images"].pop("values", None)
    if as_json:
        print_json(result)
        return
    show_shift(result)
    if out is not None:
        console.print(f"report: {result['report']['html']}  data: {result['report']['json']}")


def interpret(
    release: Annotated[Path, typer.Argument(help="Release folder")],
    saliency_dir: Annotated[
        Path, typer.Argument(help="Saliency maps named <isic_id>.npy or <isic_id>.png")
    ],
    structure_masks: Annotated[
        Path | None,
        typer.Option(help="Structure masks: <isic_id>_attribute_<name>.png (ISIC 2018 task 2)"),
    ] = None,
    tolerance: Annotated[int, typer.Option(help="Pointing-game tolerance in pixels")] = 15,
    replicates: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed")] = 0,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Agreement of saliency maps with lesion masks and annotated structures."""
    from dermset.analysis.interpret import SaliencyError
    from dermset.analysis.interpret import interpret as run_interpret
    from dermset.release.reader import load_release

    try:
        rel = load_release(release)
        result = run_interpret(
            rel,
            saliency_dir,
            structure_mask_dir=structure_masks,
            tolerance=tolerance,
            replicates=replicates,
            seed=seed,
        )
    except (*_user_errors(), SaliencyError) as exc:
        raise CliError(str(exc)) from None
    if out is not None:
        from dermset.report.interpret_html import interpret_report

        written = interpret_report(result, rel, saliency_dir).write(out, "interpret")
        result["report"] = {k: str(v) for k, v in written.items()}
    if as_json:
        print_json(result)
        return
    show_interpretation(result)
    if out is not None:
        console.print(f"report: {result['report']['html']}  data: {result['report']['json']}")


def baseline(
    release: Annotated[Path, typer.Argument(help="Release folder")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Predictions CSV to write")],
    folds: Annotated[int, typer.Option(help="Folds when splits.csv has none")] = 5,
    seed: Annotated[int, typer.Option(help="Seed for the folds")] = 0,
    workers: Annotated[int, typer.Option(help="Processes decoding images")] = 1,
) -> None:
    """Train the image-statistics baseline; write its out-of-fold predictions (ISIC format)."""
    from dermset.analysis.baseline import baseline_predictions, write_predictions
    from dermset.release.reader import load_release

    try:
        result = baseline_predictions(
            load_release(release), folds=folds, seed=seed, workers=workers
        )
    except (*_user_errors(), ValueError) as exc:
        raise CliError(str(exc)) from None
    path = write_predictions(result, out)
    console.print(
        f"baseline (logistic regression on image statistics): {len(result.predictions)} "
        f"images, {result.folds} {result.fold_source} folds → {path}"
    )
    for problem in result.skipped[:10]:
        console.print(f"[yellow]skipped[/] {problem} (given the class prevalence)")


def evaluate_baseline(
    release: Path, out: Path, *, seed: int = 0, replicates: int = 1000, workers: int = 1
) -> dict[str, Any]:
    """For `dermset demo`: train the baseline on *release*, evaluate its out-of-fold
    predictions, write ``baseline_predictions.csv`` and the report under *out*, print the
    headline with intervals. Returns the evaluation (JSON-ready)."""
    from dermset.analysis.baseline import baseline_predictions, write_predictions
    from dermset.analysis.evaluation import evaluate as run_evaluation
    from dermset.analysis.evaluation_inputs import from_release
    from dermset.release.reader import load_release
    from dermset.report.evaluation_html import evaluation_report

    rel = load_release(release)
    preds = write_predictions(
        baseline_predictions(rel, seed=seed, workers=workers), out / "baseline_predictions.csv"
    )
    result = run_evaluation(from_release(rel, preds), replicates=replicates, seed=seed)
    written = evaluation_report(result).write(out, "evaluation")
    t = headline_table(
        result, "Baseline (logistic regression on image statistics), out-of-fold, 95 % CI"
    )
    console.print(t)
    console.print(f"report: {written['html']}")
    return result


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(shift)
    app.command()(interpret)
    app.command()(baseline)
