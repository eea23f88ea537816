"""``manifest.json``: what makes a release reproducible and its tampering detectable.

The SHA-256 and size of every file (``manifest.json`` itself and the bag excepted: the bag has
its own manifests), the protocol (name, version and the SHA-256 of its text), the registry
snapshot the release was cut from (the audit chain's head, which pins every change ever made,
and the schema revision), and the exact split assignment (the split spec, its seed, and the
SHA-256 of ``splits.csv``, which lists every image's fold).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dermset.model.problems import Problem
from dermset.release.bag import payload_files

MANIFEST_FILE = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_hashes(folder: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for rel in payload_files(folder):
        if rel.as_posix() == MANIFEST_FILE:
            continue
        path = folder / rel
        out[rel.as_posix()] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def write_manifest(folder: Path, header: dict[str, Any]) -> tuple[Path, str]:
    """Write ``manifest.json`` (header + file hashes); returns its path and its own SHA-256."""
    manifest = {**header, "files": file_hashes(folder)}
    path = folder / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path, sha256_file(path)


def verify_manifest(folder: Path) -> list[Problem]:
    """Every file present with its recorded hash, and no file the manifest does not list."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return [Problem("the release has no manifest.json", rule="missing", file=str(folder))]
    listed: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    problems = []
    present = {rel.as_posix() for rel in payload_files(folder)} - {MANIFEST_FILE}
    for rel in sorted(set(listed) - present):
        problems.append(Problem("listed in manifest.json but missing", rule="missing", file=rel))
    for rel in sorted(present - set(listed)):
        problems.append(Problem("not listed in manifest.json", rule="unlisted", file=rel))
    for rel in sorted(set(listed) & present):
        if sha256_file(folder / rel) != listed[rel]["sha256"]:
            problems.append(
                Problem(
                    "content differs from its SHA-256 in manifest.json", rule="changed", file=rel
                )
            )
    return problems
