"""Shared fixtures: real data paths, projects on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dermset.registry.project import Project

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = SHARED / "data"
TABLES = DATA / "tables"
IMAGES = DATA / "images"
DEFAULT_PG = "postgresql://dermset:dermset@127.0.0.1:5432/dermset_test"


def require_components() -> bool:
    """In CI (.ci/run) a missing component is a failure, never a skip."""
    return os.environ.get("DERMSET_REQUIRE_COMPONENTS") == "1"


def skip_or_fail(reason: str) -> None:
    if require_components():
        pytest.fail(f"{reason} (DERMSET_REQUIRE_COMPONENTS=1: CI must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        skip_or_fail(f"real test data not found at {DATA}")
    return DATA


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A fresh project on SQLite with the default protocol."""
    proj = Project.init(tmp_path / "proj")
    yield proj
    proj.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("DERMSET_TEST_POSTGRES_URL", DEFAULT_PG)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            pass
    except Exception as exc:
        skip_or_fail(
            f"no PostgreSQL server at {url} ({type(exc).__name__}); .ci/run installs and starts one"
        )
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A throwaway database on the running PostgreSQL server, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"dermset_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    drop_database(postgres_admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop a test database; an autovacuum worker on it (a superuser process that our role may
    not terminate without pg_signal_backend) is waited out rather than failing the test."""
    import time

    import psycopg

    for attempt in range(20):
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == 19:
                raise
            time.sleep(0.5)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_project(request, tmp_path: Path) -> Iterator[Project]:
    """The same test on SQLite and on PostgreSQL."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    proj = Project.init(tmp_path / "proj", database_url=url)
    yield proj
    proj.close()
