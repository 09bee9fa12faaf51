import os
import stat

import numpy as np
import pytest

from sketchback.io import atomic_path, load_npz, save_npz


def test_atomic_path_leaves_nothing_on_failure_and_normal_permissions_on_success(tmp_path):
    target = tmp_path / "out" / "shard.npz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    save_npz(target, images=np.arange(6, dtype=np.uint8).reshape(2, 3))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    np.testing.assert_array_equal(load_npz(target)["images"], [[0, 1, 2], [3, 4, 5]])


def test_damaged_or_missing_shard_is_named(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="broken.npz"):
        load_npz(broken)
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load_npz(tmp_path / "absent.npz")


def test_memory_mapped_shard_reads_the_same_arrays(tmp_path):
    # sketch_shard streams photos from a memory map: every dtype and layout a shard can hold
    arrays = {
        "images": np.random.default_rng(0).integers(0, 256, (5, 7, 9, 3), dtype=np.uint8),
        "names": np.array(["000001.jpg", "a longer name.png"]),
        "rows": np.arange(5),
        "empty": np.zeros((0, 4), np.float32),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    }
    save_npz(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "packed.npz", **arrays)  # compressed members are read normally
    for name in ("plain.npz", "packed.npz"):
        mapped = load_npz(tmp_path / name, mmap=True)
        assert sorted(mapped) == sorted(arrays)
        for key, expected in arrays.items():
            assert mapped[key].dtype == expected.dtype and mapped[key].shape == expected.shape, (name, key)
            np.testing.assert_array_equal(mapped[key], expected)
    assert isinstance(load_npz(tmp_path / "plain.npz", mmap=True)["images"], np.memmap)


def test_memory_mapped_shard_that_is_cut_short_is_named(tmp_path):
    path = tmp_path / "shard.npz"
    save_npz(path, images=np.zeros((2, 100, 100, 3), np.uint8), rows=np.arange(2))
    # a header that claims more images than the file holds (same length, so the zip stays valid)
    data = path.read_bytes()
    assert data.count(b"'shape': (2, 100, 100, 3)") == 1
    path.write_bytes(data.replace(b"'shape': (2, 100, 100, 3)", b"'shape': (9, 100, 100, 3)"))
    with pytest.raises(ValueError, match=r"shard.npz is not a readable .npz shard \(member images.npy is cut short"):
        load_npz(path, mmap=True)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="shard.npz"):
        load_npz(path, mmap=True)
