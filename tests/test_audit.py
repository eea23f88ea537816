"""The audit chain finds an edited, inserted or deleted event (tampering with the database)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from cli_helpers import dermset
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.metadata_import import import_table


@pytest.fixture
def audited(any_project, tmp_path, monkeypatch):
    if not any_project.db.is_sqlite:  # the CLI finds the PostgreSQL registry by URL
        monkeypatch.setenv("DERMSET_DATABASE_URL", any_project.db.url)
    path = tmp_path / "m.csv"
    path.write_text("isic_id,patient_id,lesion_id,sex,diagnosis\n"
                    + "".join(f"ISIC_{i},P{i % 3},L{i},female,nevus\n" for i in range(6)))
    import_table(any_project, path, load_mapping("isic"), actor="alice")
    with any_project.db.read() as s:
        assert any_project.audit.verify(s) == []
        assert any_project.audit.count(s) == 6 + 3 + 6  # images, patients, lesions
    return any_project


def verify(project) -> list[str]:
    with project.db.read() as s:
        return project.audit.verify(s)


def tamper(project, sql: str, **params) -> None:
    with project.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_every_event_says_who_when_what_before_after(audited):
    r = dermset("audit", "log", "--project", audited.root, "--json")
    events = r.json()
    assert all(e["actor"] == "alice" and e["at"] for e in events)
    image_events = [e for e in events if e["entity"] == "image"]
    assert image_events[0]["changes"]["diagnosis"] == [None, "NV"]


def test_edited_event_is_found(audited):
    with audited.db.read() as s:
        row = s.execute(text("select seq, changes from audit_event where entity='image' "
                             "order by seq limit 1")).one()
    changes = json.loads(row.changes)
    changes["diagnosis"] = [None, "MEL"]
    tamper(audited, "update audit_event set changes=:c where seq=:s", c=json.dumps(changes),
           s=row.seq)
    problems = verify(audited)
    assert any(f"event {row.seq}: content was altered" in p for p in problems)


def test_deleted_event_is_found(audited):
    tamper(audited, "delete from audit_event where seq=4")
    problems = verify(audited)
    assert any("event 5" in p and "deleted" in p for p in problems)


def test_inserted_event_is_found(audited):
    tamper(audited, "insert into audit_event (seq, at, actor, entity, entity_key, action, "
                    "changes, prev_hash, hash) select 100, at, 'mallory', entity, entity_key, "
                    "action, changes, hash, hash from audit_event where seq=15")
    assert any("event 100" in p for p in verify(audited))


def test_cut_tail_is_found(audited):
    tamper(audited, "delete from audit_event where seq >= 14")
    assert any("head records 15 events" in p for p in verify(audited))


def test_rewritten_chain_without_the_secret_is_found(audited):
    """Someone with database access recomputes plain SHA-256 hashes: the keyed chain says no."""
    import hashlib

    with audited.db.read() as s:
        rows = s.execute(text("select seq, prev_hash, hash from audit_event order by seq")).all()
    prev = rows[0].prev_hash
    for r in rows:
        forged = hashlib.sha256((prev + "forged").encode()).hexdigest()
        tamper(audited, "update audit_event set prev_hash=:p, hash=:h where seq=:s",
               p=prev, h=forged, s=r.seq)
        prev = forged
    tamper(audited, "update audit_head set hash=:h", h=prev)
    assert verify(audited)


def test_cli_verify_exit_codes(audited):
    ok = dermset("audit", "verify", "--project", audited.root)
    assert ok.code == 0 and "intact" in ok.out
    tamper(audited, "update audit_event set actor='mallory' where seq=2")
    bad = dermset("audit", "verify", "--project", audited.root, "--json")
    assert bad.code == 1 and bad.json()["intact"] is False
