"""Atomic file writing and array shards: nothing half-written ever looks complete."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    The temporary name keeps the final suffix so libraries that pick a format by
    extension (``.png``, ``.keras``, ``.npz``) still do the right thing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions a plain open() would have,
        # so collaborators sharing a results folder on a cluster can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def file_digest(path: str | os.PathLike, algorithm: str, chunk_size: int = 1 << 20) -> str:
    """Hex digest (``md5``, ``sha256``, ...) of a file, read in chunks (constant memory for any size)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def file_signature(path: str | os.PathLike | None) -> list | None:
    """[path, size, modification time]: a cheap stand-in for a file's content, to tell whether it changed."""
    if path is None:
        return None
    stat = Path(path).stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed ``.npz`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file into memory, with a clear error if it is damaged."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; rerun the stage that makes it (snakemake {path})")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError ...
        raise ValueError(f"{path} is not a readable .npz shard ({exc}); delete it and rerun its rule") from exc
