import cv2
import numpy as np
import pandas as pd
import pytest

from sketchback.io import load_npz
from sketchback.prepare import crop_resize, load_image, mean_image, prepare_shard, split_index, write_index
from sketchback.sources import write_manifest

SHARDS = {"train": 3, "val": 1, "test": 2}
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def manifest(n):
    return pd.DataFrame({"path": [f"images/{i:04d}.png" for i in range(n)]})


def test_split_is_deterministic_disjoint_and_sized():
    a = split_index(manifest(100), FRACTIONS, SHARDS, seed=5)
    b = split_index(manifest(100), FRACTIONS, SHARDS, seed=5)
    c = split_index(manifest(100), FRACTIONS, SHARDS, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert a["path"].is_unique and len(a) == 100
    assert a.groupby("split").size().to_dict() == {"train": 70, "val": 10, "test": 20}
    assert sorted(a[a.split == "train"].shard.unique()) == [0, 1, 2]
    sizes = a[a.split == "train"].groupby("shard").size()
    assert sizes.max() - sizes.min() <= 1


def test_official_partition_is_kept():
    frame = manifest(10).assign(split=["train"] * 6 + ["val"] * 2 + ["test"] * 2)
    index = split_index(frame, FRACTIONS, {"train": 2, "val": 1, "test": 1}, seed=0)
    assert index.set_index("path")["split"].to_dict() == frame.set_index("path")["split"].to_dict()


def test_too_many_shards_and_bad_fractions_are_explained():
    with pytest.raises(ValueError, match="shards.val"):
        split_index(manifest(10), FRACTIONS, {"train": 2, "val": 5, "test": 1}, seed=0)
    with pytest.raises(ValueError, match="sum"):
        split_index(manifest(10), {"train": 0.7, "val": 0.7, "test": 0.2}, SHARDS, seed=0)


def test_crop_resize_scales_instead_of_tiling():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = 200  # right half bright
    out = crop_resize(image, 20)  # central 40x40 square: left half dark, right half bright
    assert out.shape == (20, 20, 3)
    assert out[:, :8].max() < 10 and out[:, 12:].min() > 190
    boxed = crop_resize(image, 10, crop=[0, 40, 20, 20])
    assert boxed.min() == 200


def write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def test_prepare_shard_and_mean_image(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 24, 24, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        write_png(tmp_path / "raw" / f"images/{i:04d}.png", image)
    write_manifest(tmp_path / "raw", manifest(12))
    write_index(tmp_path / "raw", tmp_path / "index.csv", {"train": 0.5, "val": 0.25, "test": 0.25}, {"train": 2, "val": 1, "test": 1}, seed=1)
    index = pd.read_csv(tmp_path / "index.csv")
    shards = []
    for shard in (0, 1):
        out = tmp_path / f"train-{shard}.npz"
        prepare_shard(tmp_path / "index.csv", tmp_path / "raw", "train", shard, out, size=24)
        data = load_npz(out)
        expected = index[(index.split == "train") & (index.shard == shard)]["path"].tolist()
        assert data["names"].tolist() == expected
        for name, image in zip(data["names"], data["images"]):
            np.testing.assert_array_equal(image, images[int(name[7:11])])  # 24px in, 24px out: unchanged
        shards.append(out)
    mean = mean_image(shards, tmp_path / "mean.npy")
    train_ids = [int(p[7:11]) for p in index[index.split == "train"]["path"]]
    np.testing.assert_allclose(mean, images[train_ids].mean(axis=0) / 255.0, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left


def test_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match="broken.png"):
        load_image(bad)
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        load_image(tmp_path / "nothere.png")
