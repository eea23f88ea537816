"""Backup while the project is in use, and restore: the round trip loses nothing."""

from __future__ import annotations

import stat
import threading

import pytest

from cli_helpers import dermset
from conftest import drop_database, skip_or_fail
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata_import import import_table
from dermset.registry.backup import BackupError, backup, restore
from dermset.registry.summary import status


def _fill(project, tmp_path, n=300):
    path = tmp_path / "m.csv"
    path.write_text("isic_id,patient_id,lesion_id,sex,diagnosis\n"
                    + "".join(f"ISIC_{i},P{i % 50},L{i},female,nevus\n" for i in range(n)))
    import_table(project, path, load_mapping("isic"), actor="alice")
    for i in range(5):
        project.store.put(f"image {i}".encode())


def _snapshot(project):
    with project.db.read() as s:
        return status(s), project.audit.verify(s), project.audit.count(s)


def test_sqlite_round_trip_via_cli(tmp_path, project):
    _fill(project, tmp_path)
    before = _snapshot(project)
    r = dermset("backup", tmp_path / "bk", "--project", project.root)
    assert r.code == 0, r.err
    assert stat.S_IMODE((tmp_path / "bk" / "secret.key").stat().st_mode) == 0o600
    r = dermset("restore", tmp_path / "bk", "--project", tmp_path / "restored")
    assert r.code == 0, r.err
    from dermset.registry.project import Project

    restored = Project.open(tmp_path / "restored")
    try:
        assert _snapshot(restored) == before
        assert sorted(restored.store.iter_keys()) == sorted(project.store.iter_keys())
        # the secret came along: the same local id gives the same pseudonym
        assert restored.keys.patient_pseudonym("P1") == project.keys.patient_pseudonym("P1")
    finally:
        restored.close()


def test_backup_is_consistent_while_writes_go_on(tmp_path, project):
    _fill(project, tmp_path, n=100)
    stop = threading.Event()

    def writer():
        i = 1000
        while not stop.is_set():
            path = tmp_path / f"w{i}.csv"
            path.write_text("isic_id,diagnosis\n" + f"ISIC_{i},nevus\n")
            import_table(project, path, load_mapping("isic"), actor="bob")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        backup(project, tmp_path / "bk")
    finally:
        stop.set()
        t.join()
    restored = restore(tmp_path / "bk", tmp_path / "restored")
    try:
        st, problems, _ = _snapshot(restored)
        assert problems == []  # the copied audit chain is whole
        assert st["images"] >= 100
    finally:
        restored.close()


def test_damaged_backup_is_refused(tmp_path, project):
    _fill(project, tmp_path, n=10)
    backup(project, tmp_path / "bk")
    (tmp_path / "bk" / "dermset.toml").write_text("tampered")
    with pytest.raises(BackupError, match=r"dermset\.toml was altered"):
        restore(tmp_path / "bk", tmp_path / "r")
    r = dermset("restore", tmp_path / "bk", "--project", tmp_path / "r2")
    assert r.code == 2 and "altered" in r.err


def test_postgresql_round_trip(tmp_path, postgres_url, postgres_admin_url):
    import shutil
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    from dermset.registry.project import Project

    if not shutil.which("pg_dump"):
        skip_or_fail("pg_dump not installed (.ci/run installs postgresql)")
    project = Project.init(tmp_path / "p", database_url=postgres_url)
    try:
        _fill(project, tmp_path)
        before = _snapshot(project)
        backup(project, tmp_path / "bk")
    finally:
        project.close()
    target_name = f"dermset_r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target_name}"')
    target = make_url(postgres_url).set(database=target_name).render_as_string(
        hide_password=False)
    try:
        restored = restore(tmp_path / "bk", tmp_path / "r", database_url=target)
        try:
            assert _snapshot(restored) == before
        finally:
            restored.close()
    finally:
        drop_database(postgres_admin_url, target_name)
