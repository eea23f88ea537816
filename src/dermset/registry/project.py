"""A dermset project folder: protocol, registry database, image store and secret.

::

    DIR/dermset.toml      the study protocol
    DIR/registry.sqlite   the registry (unless DERMSET_DATABASE_URL names another database)
    DIR/store/            content-addressed images (unless DERMSET_STORE_URL names another)
    DIR/secret.key        the pseudonymisation and audit secret, mode 0600, never in the database
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dermset.protocol import PROTOCOL_FILE, Protocol
from dermset.registry.audit import AuditLog
from dermset.registry.db import Database, sqlite_url
from dermset.registry.keys import SECRET_FILE, Keyring, create_secret, read_secret
from dermset.registry.store import ContentStore

DB_FILE = "registry.sqlite"
STORE_DIR = "store"
ENV_PROJECT = "DERMSET_PROJECT"
ENV_DATABASE = "DERMSET_DATABASE_URL"
ENV_STORE = "DERMSET_STORE_URL"


class NotAProject(Exception):
    """The folder has no dermset protocol file."""


def locate(explicit: str | Path | None = None) -> Path:
    """The project folder: --project, then $DERMSET_PROJECT, then the current folder."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_PROJECT)
    return Path(env) if env else Path.cwd()


@dataclass
class Project:
    root: Path
    protocol: Protocol
    db: Database
    store: ContentStore
    keys: Keyring

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.keys)

    @property
    def protocol_path(self) -> Path:
        return self.root / PROTOCOL_FILE

    @classmethod
    def init(
        cls,
        root: Path,
        protocol: Protocol | None = None,
        *,
        database_url: str | None = None,
        store_url: str | None = None,
    ) -> Project:
        """Create a project folder (refuses one that already has a protocol)."""
        root = Path(root)
        if (root / PROTOCOL_FILE).exists():
            raise FileExistsError(f"{root} is already a dermset project")
        root.mkdir(parents=True, exist_ok=True)
        protocol = protocol or Protocol()
        secret_path = root / SECRET_FILE
        if not secret_path.exists():
            create_secret(secret_path)
        (root / ".gitignore").write_text(f"{SECRET_FILE}\n{DB_FILE}*\n{STORE_DIR}/\n")
        (root / PROTOCOL_FILE).write_text(protocol.to_toml())
        project = cls.open(root, database_url=database_url, store_url=store_url)
        project.store.ensure()
        return project

    @classmethod
    def open(
        cls,
        root: str | Path | None = None,
        *,
        database_url: str | None = None,
        store_url: str | None = None,
        migrate: bool = True,
    ) -> Project:
        root = locate(root)
        protocol_path = root / PROTOCOL_FILE
        if not protocol_path.is_file():
            raise NotAProject(
                f"{root} is not a dermset project (no {PROTOCOL_FILE}). "
                f"Create one with `dermset init {root}` or point to one with --project DIR "
                f"or ${ENV_PROJECT}."
            )
        secret_path = root / SECRET_FILE
        if not secret_path.is_file():
            raise NotAProject(
                f"{root}: the project secret {SECRET_FILE} is missing; restore it "
                "from a backup (without it pseudonyms cannot be reproduced)"
            )
        protocol = Protocol.from_toml(
            protocol_path.read_text(encoding="utf-8"), source=str(protocol_path)
        )
        url = database_url or os.environ.get(ENV_DATABASE) or sqlite_url(root / DB_FILE)
        db = Database(url)
        if migrate:
            db.migrate()
        store = ContentStore(store_url or os.environ.get(ENV_STORE) or str(root / STORE_DIR))
        return cls(
            root=root, protocol=protocol, db=db, store=store, keys=Keyring(read_secret(secret_path))
        )

    def close(self) -> None:
        self.db.dispose()
