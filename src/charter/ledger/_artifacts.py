"""Artifact stores: a small base class and the fsspec implementation charter uses."""

from __future__ import annotations

import hashlib
import os
import uuid
from abc import ABC, abstractmethod
from typing import Any


def content_key(sha256: str) -> str:
    """The store key of bytes with this sha256; equal bytes share one object."""
    return f"sha256/{sha256[:2]}/{sha256}"


def digest(data: bytes) -> str:
    """The hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


class ArtifactStore(ABC):
    """Where artifact bytes live, by key; the ledger keeps what they are and their hash.

    A subclass must make `write` atomic: a reader sees either no object or all of it,
    never a partial one, even when the writer is killed half-way.
    """

    url: str

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing what was there, atomically."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The bytes under `key`; raises FileNotFoundError when there are none."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    def location(self, key: str) -> str:
        """A URL a person can use to find the object (for messages)."""
        return self.url + key if self.url.endswith("/") else f"{self.url}/{key}"


class FsspecArtifactStore(ArtifactStore):
    """Artifacts in any fsspec filesystem: a local folder (the default), memory://, s3://, ...

    Objects are written to a temporary name beside their final one and renamed into
    place; on a local disk the bytes and the folder are fsynced first, so a crash
    leaves either the whole object or none.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.url = url
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self._fs = fs
        self._root = str(root).rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}"

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        folder = path.rsplit("/", 1)[0]
        temporary = f"{folder}/.tmp-{uuid.uuid4().hex}"
        if self._local:
            _write_local(folder, temporary, path, data)
            return
        self._fs.makedirs(folder, exist_ok=True)
        self._fs.pipe_file(temporary, data)
        try:
            self._fs.mv(temporary, path)
        except BaseException:
            self._fs.rm(temporary)
            raise

    def read(self, key: str) -> bytes:
        return bytes(self._fs.cat_file(self._path(key)))

    def exists(self, key: str) -> bool:
        return bool(self._fs.exists(self._path(key)))


def _write_local(folder: str, temporary: str, path: str, data: bytes) -> None:
    os.makedirs(folder, exist_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    # The rename is only durable once the folder entry itself reaches the disk.
    folder_descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(folder_descriptor)
    finally:
        os.close(folder_descriptor)
