"""Project folders: init, locating a project, clear errors when there is none."""

from __future__ import annotations

import stat

from cli_helpers import dermset
from dermset.registry.project import Project


def test_init_creates_protocol_registry_store_and_private_secret(tmp_path):
    target = tmp_path / "study"
    r = dermset("init", target)
    assert r.code == 0, r.err
    assert (target / "dermset.toml").is_file()
    assert (target / "registry.sqlite").is_file()
    assert (target / "store").is_dir()
    mode = stat.S_IMODE((target / "secret.key").stat().st_mode)
    assert mode == 0o600
    secret = (target / "secret.key").read_text().strip()
    # the secret never enters the database
    assert secret.encode() not in (target / "registry.sqlite").read_bytes()
    assert dermset("init", target).code == 2  # refuses to overwrite a project


def test_every_command_says_clearly_when_there_is_no_project(tmp_path, monkeypatch):
    monkeypatch.delenv("DERMSET_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    for args in (["status"], ["images"], ["audit", "verify"], ["quarantine"]):
        r = dermset(*args)
        assert r.code == 2, args
        assert "is not a dermset project" in r.err and "dermset init" in r.err
        assert "Traceback" not in r.err + r.out


def test_project_from_environment(tmp_path, monkeypatch):
    Project.init(tmp_path / "p").close()
    monkeypatch.setenv("DERMSET_PROJECT", str(tmp_path / "p"))
    r = dermset("status", "--json")
    assert r.code == 0, r.err
    assert {"patients", "lesions", "images", "by_diagnosis",
            "by_verification_stage"} <= set(r.json())


def test_broken_protocol_is_reported_not_crashed(tmp_path):
    Project.init(tmp_path / "p").close()
    (tmp_path / "p" / "dermset.toml").write_text("[review]\nreviewers = 0\n")
    r = dermset("status", "--project", tmp_path / "p")
    assert r.code == 2
    assert "review.reviewers" in r.err
