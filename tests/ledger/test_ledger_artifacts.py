"""Artifact stores: the fsspec default on a local folder and on memory://, and a custom one."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from charter.errors import ArtifactIntegrityError, NotFoundError
from charter.ledger import ArtifactStore, FsspecArtifactStore, open_ledger
from charter.ledger._ledger import ARTIFACTS_URL_ENV


class DictStore(ArtifactStore):
    """The smallest store there is: a dict (writes are trivially atomic)."""

    def __init__(self) -> None:
        self.url = "dict://"
        self.objects: dict[str, bytes] = {}

    def write(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def read(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise FileNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        return key in self.objects


def _memory_url() -> str:
    return f"memory://charter-test-{uuid.uuid4().hex}"


def test_fsspec_store_on_a_local_folder(tmp_path: Path) -> None:
    store = FsspecArtifactStore(str(tmp_path / "store"))
    assert not store.exists("sha256/ab/abc")
    store.write("sha256/ab/abc", b"one")
    store.write("sha256/ab/abc", b"two")
    assert store.read("sha256/ab/abc") == b"two"
    assert [p.name for p in (tmp_path / "store" / "sha256" / "ab").iterdir()] == ["abc"]
    with pytest.raises(FileNotFoundError):
        store.read("sha256/cd/cde")
    assert store.location("k") == f"{tmp_path / 'store'}/k"


def test_fsspec_store_on_memory() -> None:
    store = FsspecArtifactStore(_memory_url())
    store.write("sha256/ab/abc", b"bytes")
    assert store.exists("sha256/ab/abc")
    assert store.read("sha256/ab/abc") == b"bytes"
    with pytest.raises(FileNotFoundError):
        store.read("sha256/ab/missing")


def test_ledger_with_a_memory_store(tmp_path: Path) -> None:
    url = _memory_url()
    with open_ledger(tmp_path, artifacts=url) as ledger:
        artifact = ledger.put_artifact("p", "model.pkl", b"model")
        assert ledger.load_artifact(artifact) == b"model"
        assert not (tmp_path / ".charter" / "artifacts").exists()
        FsspecArtifactStore(url).write(artifact.uri, b"other")
        with pytest.raises(ArtifactIntegrityError, match="it was changed or corrupted"):
            ledger.load_artifact(artifact)


def test_store_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _memory_url()
    monkeypatch.setenv(ARTIFACTS_URL_ENV, url)
    with open_ledger(tmp_path) as ledger:
        artifact = ledger.put_artifact("p", "x", b"x")
        assert ledger.artifact_store.url == url
    assert FsspecArtifactStore(url).read(artifact.uri) == b"x"


def test_ledger_with_a_custom_store(tmp_path: Path) -> None:
    store = DictStore()
    with open_ledger(tmp_path, artifacts=store) as ledger:
        artifact = ledger.put_artifact("p", "model.pkl", b"model")
        assert store.objects == {artifact.uri: b"model"}
        assert ledger.artifact_store is store
        del store.objects[artifact.uri]
        with pytest.raises(NotFoundError, match=r"must have its bytes at dict://sha256/"):
            ledger.load_artifact(artifact)
