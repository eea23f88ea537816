"""The ingest pipeline: image files (and their metadata rows) into the registry and the store.

Workers prepare each file (prepare.py: decode once, scrub, measure, fingerprint); the main
process matches it to its metadata row, recognises exact duplicates (same decoded pixels) before
anything is stored, and records it. Each group of images is made durable in three steps that
keep the store and the registry in step across a kill -9 (registry/ingest_ledger.py):

1. the content keys about to be written are committed to the intent log;
2. the scrubbed files are written to the content-addressed store;
3. one transaction records the images, their acquisition facts, SOP results, fingerprints,
   audit events and ledger rows, and clears the intents.

A re-run skips every file the ledger has seen, so nothing is imported twice, and finishes what
a crash left (:func:`recover`). After the records, the near-duplicate search
(``dermset.ingest.dedup``) runs over the batch's new images.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from dermset.ingest.executors import make_executor
from dermset.ingest.prepare import Prepared, prepare
from dermset.ingest.recorder import IngestRun
from dermset.ingest.sources import iter_files, load_metadata
from dermset.ingest.summary import IngestError, IngestSummary
from dermset.model.mappings import MappingSpec
from dermset.registry.ingest_ledger import recover
from dermset.registry.project import Project

__all__ = ["IngestError", "IngestSummary", "ingest_paths"]

#: images recorded per transaction (each is still all-or-nothing)
GROUP = 16
LOCK_FILE = ".ingest.lock"

ProgressFn = Callable[[int, int], None]


# -- the run --------------------------------------------------------------------------------
@contextlib.contextmanager
def _exclusive(project: Project) -> Iterator[None]:
    """One ingest per project at a time (it may then clean the store's temporary files)."""
    fh = open(project.root / LOCK_FILE, "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestError(
                "another ingest is running on this project; wait for it to finish"
            ) from None
        yield
    finally:
        fh.close()


def _crashed(path: str) -> Prepared:
    return Prepared(
        path=path,
        name=os.path.basename(path),
        problem=("the decoder crashed on this file (worker process died)", "decoder_crash"),
    )


def ingest_paths(
    project: Project,
    paths: Sequence[str | Path],
    *,
    metadata: str | Path | None = None,
    mapping: MappingSpec | None = None,
    workers: int | None = None,
    dask: str | None = None,
    actor: str = "dermset-ingest",
    site: str = "",
    progress: ProgressFn | None = None,
    resolve: bool = True,
) -> IngestSummary:
    """Bring image files into the registry; see the module docstring. Safe to re-run."""
    if metadata is not None and mapping is None:
        raise IngestError("--metadata needs --mapping (isic, ham10000, … or a .toml file)")
    summary = IngestSummary()
    with _exclusive(project):
        recover(project.db, project.store)
        if project.store.is_local:
            project.store.clean_tmp()
        files = list(iter_files(paths, summary))
        rows = load_metadata(project, metadata, mapping) if metadata and mapping else None
        run = IngestRun(project, summary, rows, actor, site, mapping.name if mapping else "files")
        todo = run.skip_known(files)
        done = len(files) - len(todo)
        if progress:
            progress(done, len(files))
        executor = make_executor(workers, dask, _crashed)
        summary.workers, summary.executor = executor.workers, executor.name
        with executor:
            group: list[Prepared] = []
            stage_sums: dict[str, float] = {}
            n_prepared = 0
            started = time.perf_counter()
            for prepared in executor.map(prepare, todo, window=GROUP + 2 * executor.workers):
                group.append(prepared)
                if not n_prepared:
                    summary.timings["first_result"] = time.perf_counter() - started
                n_prepared += 1
                if progress:
                    progress(done + len(group), len(files))
                for k, v in prepared.timings.items():
                    stage_sums[k] = stage_sums.get(k, 0.0) + v
                if len(group) >= GROUP:
                    run.record(group)
                    done += len(group)
                    group = []
                    if progress:
                        progress(done, len(files))
            if group:
                run.record(group)
                done += len(group)
                if progress:
                    progress(done, len(files))
        if n_prepared:
            summary.timings["steady_per_image"] = (
                time.perf_counter() - started - summary.timings["first_result"]
            ) / max(1, n_prepared - 1)
            summary.timings |= {k: v / n_prepared for k, v in stage_sums.items()}
            summary.timings["record"] = run.record_seconds / n_prepared
        if resolve:
            run.resolve_duplicates()
        run.finish()
        if rows is not None:
            summary.metadata_rows_without_file = rows.unmatched()
    return summary
