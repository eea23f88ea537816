"""`dermset fsck`: the store re-hashed against the registry.

Finds images whose file is missing, files nobody references (extra), files whose bytes no
longer match their content key (altered), store writes a crashed ingest left in flight, and
temporary files. ``repair`` fixes only what is safe to fix: it deletes unreferenced files and
temporaries and settles the intent log. A missing or altered file needs a backup.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from dermset.registry.ingest_ledger import IngestPending, recover
from dermset.registry.project import Project
from dermset.registry.store import TMP
from dermset.registry.tables import Image

CHUNK = 1 << 20


@dataclass
class FsckReport:
    images_checked: int = 0
    files_checked: int = 0
    #: (image_id, sha256) of records whose file is not in the store
    missing: list[tuple[str, str]] = field(default_factory=list)
    #: content keys in the store that no record references
    extra: list[str] = field(default_factory=list)
    #: (content key, actual SHA-256) of files whose bytes changed
    altered: list[tuple[str, str]] = field(default_factory=list)
    pending: int = 0
    temporary: int = 0
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.altered or self.pending or self.temporary)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "images_checked": self.images_checked,
            "files_checked": self.files_checked,
            "missing": [{"image_id": i, "sha256": s} for i, s in self.missing],
            "extra": self.extra,
            "altered": [{"sha256": k, "actual_sha256": a} for k, a in self.altered],
            "pending": self.pending,
            "temporary": self.temporary,
            "repaired": self.repaired,
        }


def _hash_file(store, key: str) -> str:
    h = hashlib.sha256()
    with store.fs.open(store.path(key), "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _temporary_files(store) -> list[str]:
    tmp = f"{store.root}/{TMP}"
    return list(store.fs.find(tmp)) if store.fs.exists(tmp) else []


def fsck(project: Project, *, repair: bool = False, progress=None) -> FsckReport:
    report = FsckReport()
    store = project.store
    if repair:
        deleted = recover(project.db, store)
        if deleted:
            report.repaired.append(f"deleted {deleted} files of an interrupted ingest")
        n = store.clean_tmp()
        if n:
            report.repaired.append(f"deleted {n} temporary files")
    with project.db.read() as s:
        report.pending = s.execute(select(func.count()).select_from(IngestPending)).scalar() or 0
        referenced: dict[str, str] = {}
        for image_id, sha in s.execute(
            select(Image.image_id, Image.sha256)
            .where(Image.sha256.is_not(None))
            .order_by(Image.id)
            .execution_options(yield_per=5000)
        ):
            report.images_checked += 1
            referenced.setdefault(sha, image_id)
    stored = set(store.iter_keys())
    total = len(stored)
    for n, key in enumerate(sorted(stored), 1):
        report.files_checked += 1
        actual = _hash_file(store, key)
        if actual != key:
            report.altered.append((key, actual))
        if key not in referenced:
            report.extra.append(key)
        if progress:
            progress(n, total)
    report.missing = sorted((img, sha) for sha, img in referenced.items() if sha not in stored)
    report.temporary = len(_temporary_files(store))
    if repair and report.extra:
        for key in report.extra:
            store.delete(key)
        report.repaired.append(f"deleted {len(report.extra)} unreferenced files")
        report.extra = []
    return report
