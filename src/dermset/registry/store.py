"""Content-addressed image store on a local folder or any fsspec URL (e.g. s3://bucket/path).

Keys are the SHA-256 of the stored bytes, so a file is written once and never changes; a
write lands under a temporary name and is renamed into place, so a crash leaves no half file
under a content key.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator

import fsspec

TMP = "tmp"


class StoreError(RuntimeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ContentStore:
    def __init__(self, url: str, **storage_options):
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **storage_options)
        self.root = self.root.rstrip("/")
        self.is_local = self.fs.protocol in ("file", "local") or "file" in self.fs.protocol

    def path(self, sha: str) -> str:
        return f"{self.root}/{sha[:2]}/{sha[2:4]}/{sha}"

    def ensure(self) -> None:
        self.fs.makedirs(self.root, exist_ok=True)

    def exists(self, sha: str) -> bool:
        return self.fs.exists(self.path(sha))

    def put(self, data: bytes) -> str:
        """Store *data* under its SHA-256 (idempotent) and return the hash."""
        sha = sha256_bytes(data)
        target = self.path(sha)
        if self.fs.exists(target):
            return sha
        if self.is_local:
            tmp = f"{self.root}/{TMP}/{uuid.uuid4().hex}"
            self.fs.makedirs(f"{self.root}/{TMP}", exist_ok=True)
            with self.fs.open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                _fsync(fh)
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(tmp, target)
        else:  # object stores publish an object atomically on PUT
            self.fs.pipe_file(target, data)
        return sha

    def get(self, sha: str) -> bytes:
        try:
            return self.fs.cat_file(self.path(sha))
        except FileNotFoundError:
            raise StoreError(f"image {sha} is missing from the store") from None

    def delete(self, sha: str) -> None:
        if self.fs.exists(self.path(sha)):
            self.fs.rm_file(self.path(sha))

    def iter_keys(self) -> Iterator[str]:
        """Every content key in the store (temporary files excluded)."""
        if not self.fs.exists(self.root):
            return
        for path in self.fs.find(self.root):
            rel = path[len(self.root) :].lstrip("/")
            if rel.startswith(TMP + "/"):
                continue
            name = rel.rsplit("/", 1)[-1]
            if len(name) == 64:
                yield name

    def clean_tmp(self) -> int:
        """Remove temporary files a crashed write left behind; returns how many."""
        tmp = f"{self.root}/{TMP}"
        if not self.fs.exists(tmp):
            return 0
        files = self.fs.find(tmp)
        for f in files:
            self.fs.rm_file(f)
        return len(files)


def _fsync(fh) -> None:
    import os

    with contextlib.suppress(AttributeError, OSError, ValueError):
        os.fsync(fh.fileno())
