"""kill -9 mid-batch, resume: store, registry and audit log agree and nothing is imported twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import IMAGES
from dermset.ingest import recorder
from dermset.ingest.pipeline import ingest_paths
from dermset.registry.fsck import fsck
from dermset.registry.ingest_ledger import IngestFile, IngestPending
from dermset.registry.project import Project
from dermset.registry.tables import Image as ImageRow

N_FILES = 48


@pytest.fixture
def files(shared_data) -> list[str]:
    return sorted(str(p) for p in (IMAGES / "isic_uda1").glob("*.jpg"))[:N_FILES]


def _count(project: Project, what) -> int:
    with project.db.read() as s:
        return s.execute(select(func.count()).select_from(what)).scalar()


def _start(root: Path, files: list[str]) -> subprocess.Popen:
    code = (
        "import sys\n"
        "from dermset.registry.project import Project\n"
        "from dermset.ingest.pipeline import ingest_paths\n"
        "if __name__ == '__main__':\n"
        "    p = Project.open(sys.argv[1])\n"
        "    ingest_paths(p, sys.argv[2:], workers=2)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(root), *files],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_when(proc: subprocess.Popen, project: Project, at_least: int, timeout=120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        n = _count(project, IngestFile)
        if n >= at_least:
            os.killpg(proc.pid, signal.SIGKILL)  # the ingest and its workers, at once
            proc.wait()
            return n
        time.sleep(0.01)
    raise AssertionError(f"ingest ended before the kill: {proc.stderr.read().decode()[-2000:]}")


def test_sigkill_mid_batch_then_resume(project, files):
    seen = []
    for at_least in (3, 17, 30):  # three kills at different points of the batch
        proc = _start(project.root, files)
        seen.append(_kill_when(proc, project, at_least))
    assert seen == sorted(seen) and seen[-1] < N_FILES
    summary = ingest_paths(project, files, workers=2)
    # everything of the batch is there once: resumed files were skipped, not re-imported
    assert summary.records == N_FILES
    assert summary.already_ingested >= seen[-1]
    assert _count(project, IngestFile) == N_FILES
    with project.db.read() as s:
        names = list(s.execute(select(ImageRow.filename_hmac)).scalars())
    assert sorted(names) == sorted({project.keys.filename(os.path.basename(f)) for f in files})
    assert _count(project, IngestPending) == 0
    report = fsck(project)
    assert report.ok, report.to_dict()
    with project.db.read() as s:
        assert project.audit.verify(s) == []
    # and a further run changes nothing
    before = _count(project, ImageRow)
    again = ingest_paths(project, files, workers=1)
    assert again.already_ingested == N_FILES and _count(project, ImageRow) == before


def test_crash_between_store_write_and_record_leaves_no_orphan(project, files, monkeypatch):
    """The window a kill -9 can hit: the file is in the store, its record not yet committed."""

    class Killed(BaseException):
        pass

    real = recorder.IngestRun._write_batch

    def dies(self, *args, **kwargs):
        raise Killed()

    monkeypatch.setattr(recorder.IngestRun, "_write_batch", dies)
    with pytest.raises(Killed):
        ingest_paths(project, files[:5], workers=1)
    assert len(list(project.store.iter_keys())) > 0  # the file landed...
    assert _count(project, ImageRow) == 0  # ...its record did not
    assert _count(project, IngestPending) > 0
    assert not fsck(project).ok  # fsck sees the interrupted write
    monkeypatch.setattr(recorder.IngestRun, "_write_batch", real)
    summary = ingest_paths(project, files[:5], workers=1)  # resume settles it first
    assert summary.records == 5 and summary.already_ingested == 0
    assert fsck(project).ok
