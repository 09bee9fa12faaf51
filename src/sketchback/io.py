"""Atomic file writing and array shards: nothing half-written ever looks complete."""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
import zipfile
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


def load_npz(path: str | os.PathLike, mmap: bool = False) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file, with a clear error if it is damaged.

    mmap=True memory-maps the members ``np.savez`` stored uncompressed (read-only arrays, no copy
    and no CRC pass over the data; the zip directory and each array header are still checked), for
    hot paths that stream a shard once. Compressed members are read as usual.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; rerun the stage that makes it (snakemake {path})")
    try:
        if mmap:
            return _map_npz(path)
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError ...
        raise ValueError(f"{path} is not a readable .npz shard ({exc}); delete it and rerun its rule") from exc


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip member's local file header (30 bytes)


def _map_npz(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    size = path.stat().st_size
    with zipfile.ZipFile(path) as archive, open(path, "rb") as fh:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            version = None
            if info.compress_type == zipfile.ZIP_STORED:
                fh.seek(info.header_offset)
                fields = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
                if fields[0] != b"PK\x03\x04":
                    raise ValueError(f"member {info.filename} has no local header")
                fh.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
                version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):  # compressed, or a header format read the usual way
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            if dtype.hasobject:
                raise ValueError(f"member {info.filename} holds Python objects, which are not loaded")
            offset = fh.tell()
            count = int(np.prod(shape, dtype=np.int64))
            if offset + count * dtype.itemsize > size:
                raise ValueError(f"member {info.filename} is cut short")
            order = "F" if fortran else "C"
            arrays[key] = (np.empty(shape, dtype, order=order) if count == 0 else
                           np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order))
    return arrays
