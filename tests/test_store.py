"""The content-addressed store on a local folder and on a real S3 API served on loopback."""

from __future__ import annotations

import hashlib
import socket

import pytest

from dermset.registry.project import Project
from dermset.registry.store import ContentStore, StoreError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server in a thread on loopback: a real HTTP S3 API, no AWS account."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                 aws_secret_access_key="test", region_name="us-east-1"
                 ).create_bucket(Bucket="dermset")
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    return s3_endpoint


def _exercise(store: ContentStore) -> None:
    store.ensure()
    data = b"\xff\xd8\xff" + bytes(range(256)) * 40
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.put(data) == sha  # idempotent
    assert store.exists(sha) and store.get(sha) == data
    other = store.put(b"another image")
    assert sorted(store.iter_keys()) == sorted([sha, other])
    store.delete(other)
    assert not store.exists(other)
    with pytest.raises(StoreError, match="missing"):
        store.get(other)


def test_local_store(tmp_path):
    _exercise(ContentStore(str(tmp_path / "store")))


def test_s3_store(s3_env):
    store = ContentStore("s3://dermset/images", client_kwargs={"endpoint_url": s3_env})
    _exercise(store)


def test_project_on_s3_by_environment(tmp_path, s3_env, monkeypatch):
    monkeypatch.setenv("DERMSET_STORE_URL", "s3://dermset/project-a")
    proj = Project.init(tmp_path / "p")
    try:
        assert proj.store.url == "s3://dermset/project-a"
        sha = proj.store.put(b"pixels")
        assert proj.store.get(sha) == b"pixels"
        assert not (tmp_path / "p" / "store").exists() or not any(
            (tmp_path / "p" / "store").rglob("*"))
    finally:
        proj.close()


def test_crashed_write_leaves_no_file_under_a_content_key(tmp_path, monkeypatch):
    store = ContentStore(str(tmp_path / "store"))
    store.ensure()

    def boom(*a, **k):
        raise OSError("killed")

    monkeypatch.setattr(store.fs, "mv", boom)
    with pytest.raises(OSError):
        store.put(b"half written")
    assert list(store.iter_keys()) == []
    assert store.clean_tmp() == 1
