"""`dermset release create`: an immutable, versioned release folder, or a clear refusal.

Refused while the verification release gate is closed (the blockers are listed), when the name
is taken (releases are never overwritten), or when any record breaks a release rule. The folder
is built under a temporary name, validated (ISIC validator, mlcroissant), put through the
de-identification gate, given its manifest and BagIt bag, made read-only, and only then renamed
into place in the same transaction that records it in the registry; a failure at any step
leaves nothing behind.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermset.model.problems import Problem
from dermset.registry.db import current_revision
from dermset.registry.project import Project
from dermset.registry.store import sha256_bytes
from dermset.registry.tables import AuditHead, Image, Release
from dermset.release import bag, croissant, datasheet, isic_export, manifest, parquet
from dermset.release.contents import ReleasedImage, Selection, select_images
from dermset.release.gate import DeidentificationError, check_release, registry_facts
from dermset.release.splits import SplitSpec, assign, leaking_groups, parse_spec
from dermset.report.dataset_report import json_safe, write_report
from dermset.report.dataset_stats import dataset_stats
from dermset.verification.gate import Blocker, release_gate

RELEASES_DIR = "releases"
RELEASE_JSON = "release.json"
PROTOCOL_COPY = "protocol.toml"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_SPLITS = "patient-kfold:5"


class ReleaseRefused(Exception):
    """The release was not made; the message says why and what to do."""

    def __init__(
        self,
        message: str,
        *,
        blockers: list[Blocker] | None = None,
        problems: list[Problem] | None = None,
    ):
        self.blockers = blockers or []
        self.problems = problems or []
        details = [str(b) for b in self.blockers] + [str(p) for p in self.problems]
        shown = "".join(f"\n  {d}" for d in details[:25])
        more = f"\n  … and {len(details) - 25} more" if len(details) > 25 else ""
        super().__init__(message + shown + more)


def releases_dir(project: Project) -> Path:
    return project.root / RELEASES_DIR


# -- building blocks -------------------------------------------------------------------------
def _snapshot(session: Session, project: Project) -> dict[str, Any]:
    """The registry state a release is cut from: the audit chain's head pins every change."""
    head = session.get(AuditHead, 1)
    by_status = dict(
        session.execute(select(Image.status, func.count()).group_by(Image.status)).all()
    )
    return {
        "audit_seq": head.seq if head else 0,
        "audit_head": head.hash if head else None,
        "schema_revision": current_revision(project.db.engine),
        "records_by_status": dict(sorted(by_status.items())),
    }


def _recorded_between(session: Session) -> str:
    """When the released records entered the registry (capture dates are shifted; this is not)."""
    lo, hi = session.execute(
        select(func.min(Image.created_at), func.max(Image.created_at)).where(
            Image.status == "active", Image.sha256.is_not(None), Image.diagnosis.is_not(None)
        )
    ).one()
    return f"between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}" if lo and hi else "not recorded"


def _counts(images: list[ReleasedImage]) -> dict[str, Any]:
    rows = [i.row for i in images]
    return {
        "images": len(rows),
        "patients": len({r["patient_id"] for r in rows if r["patient_id"]}),
        "lesions": len({r["lesion_id"] for r in rows if r["lesion_id"]}),
        "by_category": dict(Counter(r["diagnosis_category"] for r in rows)),
        "by_verification_stage": dict(Counter(r["verification_stage"] or "none" for r in rows)),
        "benign_malignant": dict(Counter(r["benign_malignant"] or "missing" for r in rows)),
    }


def _split_summary(
    spec: SplitSpec, images: list[ReleasedImage], assignment: list[int | str]
) -> dict[str, Any]:
    out: dict[str, Any] = spec.to_dict()
    if not assignment:
        return out
    parts: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"images": 0, "groups": set(), "by_category": Counter()}
    )
    for img, a in zip(images, assignment, strict=True):
        p = parts[str(a)]
        p["images"] += 1
        p["groups"].add(img.group)
        p["by_category"][img.row["diagnosis_category"]] += 1
    out["parts"] = {
        k: {
            "images": v["images"],
            "patients": len(v["groups"]),
            "by_category": dict(sorted(v["by_category"].items())),
        }
        for k, v in sorted(parts.items())
    }
    return out


def _write_images(project: Project, folder: Path, images: list[ReleasedImage]) -> list[Problem]:
    (folder / "images").mkdir()
    problems = []
    for img in images:
        data = project.store.get(img.sha256)
        if sha256_bytes(data) != img.sha256:  # the store is content-addressed: prove it
            problems.append(
                Problem(
                    "the stored file does not match its SHA-256 (store corruption)",
                    rule="store_integrity",
                    file=img.isic_id,
                )
            )
        (folder / "images" / img.filename).write_bytes(data)
    return problems


def _write_splits(folder: Path, images: list[ReleasedImage], assignment: list[int | str]) -> None:
    if not assignment:
        return
    column = "fold" if isinstance(assignment[0], int) else "split"
    with (folder / "splits.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["isic_id", "patient_id", "lesion_id", column])
        for img, a in zip(images, assignment, strict=True):
            w.writerow([img.isic_id, img.row["patient_id"] or "", img.row["lesion_id"] or "", a])


def _seal(folder: Path) -> None:
    """Read-only files and folders: a release is never edited in place."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(folder, 0o555)


def remove_tree(folder: Path) -> None:
    """Delete a (possibly sealed) folder."""
    if not folder.exists():
        return
    for root, dirs, _ in os.walk(folder):
        os.chmod(root, stat.S_IRWXU)
        for name in dirs:
            os.chmod(os.path.join(root, name), stat.S_IRWXU)
    shutil.rmtree(folder)


def _build(
    project: Project,
    folder: Path,
    selection: Selection,
    info: dict[str, Any],
    stats: dict[str, Any],
    assignment: list[int | str],
    dicom: bool = False,
) -> None:
    images = selection.images
    problems = _write_images(project, folder, images)
    isic_export.write_metadata(folder, images)
    isic_export.write_csv(
        folder / "structures.csv",
        ("isic_id", "structure", "source", "present"),
        selection.structures,
    )
    _write_splits(folder, images, assignment)
    (folder / PROTOCOL_COPY).write_text(
        project.protocol_path.read_text(encoding="utf-8"), encoding="utf-8"
    )
    isic_export.write_contribution(folder, images)
    parquet.write_parquet(folder, images, assignment, selection.structures)
    if dicom:
        from dermset.release.dicom import write_dicom

        write_dicom(folder, images, info["name"])
    write_report(stats, folder / "report", f"{info['name']} (release {info['version']})")
    fx = datasheet.facts(stats, info, project.protocol)
    datasheet.write_datasheet(folder, fx, info, datasheet.curator_answers(project.root))
    (folder / RELEASE_JSON).write_text(
        json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    croissant.write_croissant(folder, info, datasheet.rai_fields(fx))
    problems += isic_export.validate_published(images)
    problems += isic_export.validate_contribution(folder / isic_export.CONTRIBUTION_DIR)
    problems += [
        Problem(e, rule="croissant", file=croissant.CROISSANT_FILE)
        for e in croissant.validate_croissant(folder / croissant.CROISSANT_FILE)
    ]
    if problems:
        raise ReleaseRefused(
            "the release does not validate; nothing was published", problems=problems
        )


# -- the command -----------------------------------------------------------------------------
def create_release(
    project: Project,
    name: str,
    *,
    splits: str | None = DEFAULT_SPLITS,
    actor: str,
    seed: int = 0,
    license: str | None = None,
    out_dir: str | Path | None = None,
    n_bootstrap: int = 1000,
    processes: int = 1,
    dicom: bool = False,
) -> Path:
    """Create release *name*; returns its folder. Raises ReleaseRefused or DeidentificationError."""
    if not NAME.match(name or ""):
        raise ReleaseRefused(
            f"release name {name!r} must be 1-64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    spec = parse_spec(splits, seed)
    base = Path(out_dir) if out_dir else releases_dir(project)
    final = base / name
    if final.exists():
        raise ReleaseRefused(
            f"{final} already exists; releases are immutable, so a new release needs a new name"
        )
    protocol = project.protocol
    with project.db.read() as s:  # one read transaction: the release is one registry state
        if s.execute(select(Release.id).where(Release.name == name)).first():
            raise ReleaseRefused(
                f"a release named {name!r} already exists; releases are "
                "immutable, so a new release needs a new name"
            )
        blockers = release_gate(s, protocol)
        if blockers:
            raise ReleaseRefused(
                f"the release gate is closed: {len(blockers)} blockers must be resolved first "
                "(`dermset labels status` shows them)",
                blockers=blockers,
            )
        selection = select_images(s, protocol)
        if selection.problems:
            raise ReleaseRefused(
                "records break release rules; nothing was published", problems=selection.problems
            )
        if not selection.images:
            reasons = ", ".join(f"{k}: {v}" for k, v in selection.excluded.items())
            raise ReleaseRefused(
                "there is nothing to release: "
                + (f"no image qualifies ({reasons})" if reasons else "the dataset has no images")
            )
        stats = json_safe(dataset_stats(s, protocol, n_bootstrap=n_bootstrap))
        snapshot = _snapshot(s, project)
        version = int(s.execute(select(func.count()).select_from(Release)).scalar() or 0) + 1
        recorded = _recorded_between(s)
    images = selection.images
    assignment = assign(
        spec, [i.row["diagnosis_category"] for i in images], [i.group for i in images]
    )
    leaks = leaking_groups([i.group for i in images], assignment) if assignment else []
    if leaks:  # cannot happen with group-aware splitters; checked because it must never ship
        raise ReleaseRefused(f"split leakage: {len(leaks)} patients in two folds")
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    taxonomy = protocol.taxonomy()
    info: dict[str, Any] = {
        "name": name,
        "version": version,
        "version_string": f"{version}.0.0",
        "created_at": created_at,
        "created_by": actor,
        "description": (
            f"{protocol.description} Release {version} ({name}): {len(images):,} "
            "clinically verified dermoscopic images."
        ),
        "license": license,
        "protocol": {
            "name": protocol.name,
            "version": protocol.version,
            "sha256": sha256_bytes(project.protocol_path.read_bytes()),
        },
        "taxonomy": [
            {
                "code": c.code,
                "name": c.name,
                "isic_diagnosis": c.isic_diagnosis,
                "malignancy": c.malignancy.value,
            }
            for c in taxonomy.categories
        ],
        "counts": _counts(images),
        "excluded": dict(selection.excluded),
        "splits": _split_summary(spec, images, assignment),
        "registry_snapshot": snapshot,
        "recorded_between": recorded,
    }
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _build(project, tmp, selection, info, stats, assignment, dicom=dicom)
        violations = check_release(tmp, registry_facts(project))
        if violations:
            raise DeidentificationError(violations)
        header = {
            k: info[k] for k in ("name", "version", "created_at", "protocol", "registry_snapshot")
        }
        header["splits"] = {**spec.to_dict(), "file": "splits.csv" if assignment else None}
        _, manifest_sha = manifest.write_manifest(tmp, header)
        bag.write_bag(
            tmp,
            {
                "External-Description": info["description"],
                "External-Identifier": f"{name} v{version}",
                "Bagging-Date": created_at[:10],
            },
            processes=processes,
        )
        _seal(tmp)
        with project.db.session() as s:
            if s.execute(select(Release.id).where(Release.name == name)).first():
                raise ReleaseRefused(f"a release named {name!r} was created meanwhile")
            s.add(
                Release(
                    name=name,
                    created_by=actor,
                    protocol_version=protocol.version,
                    manifest_sha256=manifest_sha,
                    location=str(final.resolve()),
                    n_images=len(images),
                    snapshot=snapshot,
                    version=version,
                    splits=str(spec),
                )
            )
            project.audit.record(
                s,
                actor=actor,
                entity="release",
                key=name,
                action="create",
                changes={
                    "version": (None, version),
                    "images": (None, len(images)),
                    "manifest_sha256": (None, manifest_sha),
                    "splits": (None, str(spec)),
                },
            )
            os.rename(tmp, final)  # last step before the commit; undone below if it fails
        return final
    except BaseException:
        if final.exists() and not tmp.exists():
            os.rename(final, tmp)
        remove_tree(tmp)
        raise


def list_releases(project: Project) -> list[dict[str, Any]]:
    with project.db.read() as s:
        return [
            {
                "name": r.name,
                "version": r.version,
                "created_at": r.created_at.isoformat(timespec="seconds"),
                "created_by": r.created_by,
                "images": r.n_images,
                "splits": r.splits,
                "protocol_version": r.protocol_version,
                "location": r.location,
                "manifest_sha256": r.manifest_sha256,
                "present": Path(r.location).is_dir(),
            }
            for r in s.execute(select(Release).order_by(Release.id)).scalars()
        ]


def locate_release(project: Project | None, ref: str) -> Path:
    """A release folder by registry name, or by path."""
    if project is not None:
        with project.db.read() as s:
            loc = s.execute(select(Release.location).where(Release.name == ref)).scalar()
        if loc:
            return Path(loc)
    path = Path(ref)
    if path.is_dir():
        return path
    raise ReleaseRefused(f"no release named {ref!r} in the registry and no folder {ref}")


def verify_release(folder: Path, processes: int = 1) -> list[str]:
    """Re-hash every file against the manifest and validate the bag (empty: intact)."""
    problems = [str(p) for p in manifest.verify_manifest(folder)]
    problems += bag.validate_bag(folder / bag.BAG_DIR, processes=processes)
    return problems
