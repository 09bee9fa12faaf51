import cv2
import numpy as np
import pandas as pd
import pytest

from sketchback.io import load_npz
from sketchback.data.prepare import (crop_resize, handdrawn_shard, load_image, mean_image, prepare_shard, split_index,
                                 write_index)
from sketchback.data.sources import write_manifest

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
        prepare_shard(tmp_path / "index.csv", tmp_path / "raw", "train", shard, out, size=24, max_rejected=0.0)
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


def test_groups_stay_in_one_split_and_an_official_partition_is_kept_per_image():
    # ZuBuD-like: 20 buildings x 5 views; the views of a building must not straddle train and test
    frame = pd.DataFrame({"path": [f"png-ZuBuD/object{o:04d}.view{v:02d}.png" for o in range(1, 21) for v in range(1, 6)],
                          "group": [f"object{o:04d}" for o in range(1, 21) for _ in range(5)]})
    index = split_index(frame, {"train": 0.8, "val": 0.1, "test": 0.1}, {"train": 2, "val": 1, "test": 1}, seed=3)
    per_group = index.assign(group=index["path"].str[10:20]).groupby("group")["split"].nunique()
    assert (per_group == 1).all()
    assert index.groupby("split").size().to_dict() == {"train": 80, "val": 10, "test": 10}
    # CUHK-like: the official test set is kept, the unlabelled training pairs are split by fractions
    cuhk = pd.DataFrame({"path": [f"p{i:03d}.jpg" for i in range(30)], "split": [""] * 20 + ["test"] * 10})
    index = split_index(cuhk, {"train": 0.9, "val": 0.1, "test": 0.0}, {"train": 1, "val": 1, "test": 1}, seed=0)
    assert index.groupby("split").size().to_dict() == {"train": 18, "val": 2, "test": 10}
    assert set(index[index.split == "test"].path) == {f"p{i:03d}.jpg" for i in range(20, 30)}
    with pytest.raises(ValueError, match="'testing'"):
        split_index(cuhk.assign(split="testing"), FRACTIONS, SHARDS, seed=0)


def celeba_like(tmp_path, n=10, bad=(), tiny=()):
    rng = np.random.default_rng(0)
    for i in range(n):
        path = tmp_path / "raw" / f"img_align_celeba/{i + 1:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if i in bad:
            path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        else:
            shape = (30, 20, 3) if i in tiny else (218, 178, 3)
            cv2.imwrite(str(path), rng.integers(0, 256, shape, dtype=np.uint8))
    write_manifest(tmp_path / "raw", pd.DataFrame({"path": [f"img_align_celeba/{i + 1:06d}.jpg" for i in range(n)]}))
    write_index(tmp_path / "raw", tmp_path / "index.csv", {"train": 1.0, "val": 0.0, "test": 0.0},
                {"train": 1, "val": 0, "test": 0}, seed=0)


def test_unusable_images_are_skipped_listed_and_bounded(tmp_path):
    celeba_like(tmp_path, bad=(3,), tiny=(6,))
    crop = [40, 19, 140, 140]
    out, rejected = tmp_path / "train-000.npz", tmp_path / "train-000.rejected.csv"
    n = prepare_shard(tmp_path / "index.csv", tmp_path / "raw", "train", 0, out, size=32, crop=crop,
                      rejected_csv=rejected, max_rejected=0.2)
    assert n == 8
    data = load_npz(out)
    assert data["images"].shape == (8, 32, 32, 3) and "img_align_celeba/000004.jpg" not in data["names"]
    assert data["rows"].tolist() == [0, 1, 2, 4, 5, 7, 8, 9]
    listed = pd.read_csv(rejected)
    assert listed["path"].tolist() == ["img_align_celeba/000004.jpg", "img_align_celeba/000007.jpg"]
    assert "cannot be decoded" in listed["reason"][0] and "smaller than the crop box" in listed["reason"][1]
    with pytest.raises(ValueError, match=r"2 of 10 images rejected \(20.0%, more than the 10.0% allowed"):
        prepare_shard(tmp_path / "index.csv", tmp_path / "raw", "train", 0, tmp_path / "again.npz", size=32,
                      crop=crop, rejected_csv=tmp_path / "again.csv", max_rejected=0.1)
    assert not (tmp_path / "again.npz").exists()


def test_handdrawn_shard_is_aligned_with_its_photo_shard(tmp_path):
    raw = tmp_path / "raw"
    rng = np.random.default_rng(2)
    rows = []
    for i, (photo, sketch) in enumerate([("f-005-01", "F2-005-01-sz1"), ("m-063-01", "m-063-01-sz1"), ("f1-001-01", "f1-001-01-sz1")]):
        image = rng.integers(0, 256, (250, 200, 3), dtype=np.uint8)
        write_png(raw / f"testing_100/photos/{photo}.png", image)
        grey = np.full((250, 200), 40 * i, np.uint8)
        grey[:125] = 255  # top half white: tells whether the crop matched the photo's
        (raw / "testing_100/sketches").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(raw / f"testing_100/sketches/{sketch}.png"), grey)
        rows.append((f"testing_100/photos/{photo}.png", f"testing_100/sketches/{sketch}.png", "test"))
    (raw / "testing_100/sketches/m-063-01-sz1.png").write_bytes(b"broken")  # its pair is rejected in prepare
    write_manifest(raw, pd.DataFrame(rows, columns=["path", "sketch", "split"]))
    write_index(raw, tmp_path / "index.csv", FRACTIONS, {"train": 0, "val": 0, "test": 1}, seed=0)
    prepare_shard(tmp_path / "index.csv", raw, "test", 0, tmp_path / "photos.npz", size=20,
                  rejected_csv=tmp_path / "rejected.csv", max_rejected=0.5)
    assert pd.read_csv(tmp_path / "rejected.csv")["path"].tolist() == ["testing_100/photos/m-063-01.png"]
    assert handdrawn_shard(tmp_path / "photos.npz", raw, tmp_path / "sketches.npz", size=20) == 2
    photos, sketches = load_npz(tmp_path / "photos.npz"), load_npz(tmp_path / "sketches.npz")
    assert sketches["names"].tolist() == photos["names"].tolist() == ["testing_100/photos/f-005-01.png", "testing_100/photos/f1-001-01.png"]
    assert sketches["sketches"].shape == (2, 20, 20) and sketches["sketches"].dtype == np.uint8
    # central 200x200 square of 200x250: rows 25..225, the white half is rows 25..125 -> top half of the shard
    assert sketches["sketches"][1, :8].min() == 255 and sketches["sketches"][1, 12:].max() == 80
    other = tmp_path / "other"
    write_manifest(other, pd.DataFrame({"path": ["testing_100/photos/f-005-01.png"]}))
    with pytest.raises(ValueError, match="no hand-drawn sketches"):
        handdrawn_shard(tmp_path / "photos.npz", other, tmp_path / "x.npz", size=20)
