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
