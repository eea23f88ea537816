"""Consistent backups of a project in use, and their restore.

The database is copied first (SQLite's online backup API, or ``pg_dump``); the store is copied
after it. Because the store is content-addressed and append-only (a record commits only after
its file is stored), every file the copied database names is already in the store when it is
copied, so the backup is consistent without stopping anyone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from dermset.protocol import PROTOCOL_FILE
from dermset.registry.keys import SECRET_FILE
from dermset.registry.project import DB_FILE, STORE_DIR, Project
from dermset.registry.store import ContentStore

MANIFEST = "MANIFEST.json"
PG_DUMP = "registry.pgdump"


class BackupError(RuntimeError):
    pass


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    args = [
        "--host",
        u.host or "127.0.0.1",
        "--port",
        str(u.port or 5432),
        "--username",
        u.username or "postgres",
        "--dbname",
        u.database or "",
    ]
    return args, env


def backup(project: Project, dest: Path) -> dict:
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    if project.db.is_sqlite:
        src_path = make_url(project.db.url).database
        src = sqlite3.connect(src_path)
        dst = sqlite3.connect(dest / DB_FILE)
        with dst:
            src.backup(dst)
        dst.close()
        src.close()
        database = "sqlite"
    else:
        args, env = _pg_args(project.db.url)
        subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", "--file", str(dest / PG_DUMP), *args],
            check=True,
            env=env,
            capture_output=True,
        )
        database = "postgresql"
    shutil.copy2(project.protocol_path, dest / PROTOCOL_FILE)
    shutil.copy2(project.root / SECRET_FILE, dest / SECRET_FILE)
    os.chmod(dest / SECRET_FILE, 0o600)
    local = ContentStore(str(dest / STORE_DIR))
    local.ensure()
    n_images = 0
    for sha in project.store.iter_keys():
        local.put(project.store.get(sha))
        n_images += 1
    files = {
        str(p.relative_to(dest)): _sha256_file(p)
        for p in sorted(dest.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "database": database,
        "images": n_images,
        "files": files,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def verify_backup(src: Path) -> list[str]:
    src = Path(src)
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        return [f"{src} has no {MANIFEST}; it is not a dermset backup"]
    manifest = json.loads(manifest_path.read_text())
    problems = []
    for rel, sha in manifest["files"].items():
        p = src / rel
        if not p.is_file():
            problems.append(f"{rel} is missing")
        elif _sha256_file(p) != sha:
            problems.append(f"{rel} was altered")
    return problems


def restore(
    src: Path, target: Path, *, database_url: str | None = None, store_url: str | None = None
) -> Project:
    """Restore a backup into an empty project folder (and an empty database, for PostgreSQL)."""
    src, target = Path(src), Path(target)
    problems = verify_backup(src)
    if problems:
        raise BackupError("backup is damaged: " + "; ".join(problems))
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} exists and is not empty; restore into a new folder")
    manifest = json.loads((src / MANIFEST).read_text())
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / PROTOCOL_FILE, target / PROTOCOL_FILE)
    shutil.copy2(src / SECRET_FILE, target / SECRET_FILE)
    os.chmod(target / SECRET_FILE, 0o600)
    database_url = database_url or os.environ.get("DERMSET_DATABASE_URL")
    if manifest["database"] == "sqlite":
        if database_url and not database_url.startswith("sqlite"):
            raise BackupError(
                "this backup holds a SQLite registry; restore it without "
                "DERMSET_DATABASE_URL, or migrate it separately"
            )
        shutil.copy2(src / DB_FILE, target / DB_FILE)
    else:
        if not database_url:
            raise BackupError(
                "this backup holds a PostgreSQL registry: set "
                "DERMSET_DATABASE_URL to an empty database to restore into"
            )
        args, env = _pg_args(database_url)
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", *args, str(src / PG_DUMP)],
            check=True,
            env=env,
            capture_output=True,
        )
    store = ContentStore(
        store_url or os.environ.get("DERMSET_STORE_URL") or str(target / STORE_DIR)
    )
    store.ensure()
    backup_store = ContentStore(str(src / STORE_DIR))
    for sha in backup_store.iter_keys():
        store.put(backup_store.get(sha))
    return Project.open(target, database_url=database_url, store_url=store_url)
