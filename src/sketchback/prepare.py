"""Prepare raw images for training: deterministic split, sharding, crop and resize to NHWC uint8 shards."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from sketchback.io import atomic_path, load_npz, save_npz
from sketchback.sources import read_manifest

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def shard_name(index: int) -> str:
    return f"{index:03d}"


def split_index(manifest: pd.DataFrame, fractions: dict, shards: dict, seed: int) -> pd.DataFrame:
    """Assign every image a split and a shard.

    An official partition (a ``split`` column in the manifest) is kept; otherwise images are
    shuffled with ``seed`` and cut by ``fractions`` (train/val/test, summing to 1). Within a split,
    images are dealt to ``shards[split]`` shards in contiguous, nearly equal blocks.
    """
    frame = manifest[["path"] + (["split"] if "split" in manifest.columns else [])].copy()
    if "split" not in frame.columns:
        total = sum(fractions[s] for s in SPLITS)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions {fractions} sum to {total}, not 1")
        order = np.random.default_rng(seed).permutation(len(frame))
        n_train = int(round(fractions["train"] * len(frame)))
        n_val = int(round(fractions["val"] * len(frame)))
        labels = np.empty(len(frame), dtype=object)
        labels[order[:n_train]] = "train"
        labels[order[n_train:n_train + n_val]] = "val"
        labels[order[n_train + n_val:]] = "test"
        frame["split"] = labels
    pieces = []
    for split in SPLITS:
        part = frame[frame["split"] == split].sort_values("path").reset_index(drop=True)
        n_shards = shards[split]
        if len(part) < n_shards:
            raise ValueError(f"split {split!r} has {len(part)} images but {n_shards} shards were asked for; lower shards.{split}")
        part["shard"] = np.arange(len(part)) * n_shards // len(part)
        pieces.append(part)
    return pd.concat(pieces, ignore_index=True)


def write_index(dataset_dir: str | Path, out_csv: str | Path, fractions: dict, shards: dict, seed: int) -> pd.DataFrame:
    index = split_index(read_manifest(dataset_dir), fractions, shards, seed)
    with atomic_path(out_csv) as tmp:
        index.to_csv(tmp, index=False)
    log.info("%s: %s", dataset_dir, index.groupby("split").size().to_dict())
    return index


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); a clear error names an unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"image {path} cannot be decoded (corrupt or not an image); delete or replace it")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_resize(image: np.ndarray, size: int, crop: list[int] | None = None) -> np.ndarray:
    """Crop (``[top, left, height, width]``, or the central square when None) and resize to size x size.

    Resizing interpolates (INTER_AREA when shrinking); it never tiles pixels the way np.resize does.
    """
    if crop is not None:
        top, left, height, width = crop
        image = image[top:top + height, left:left + width]
    else:
        h, w = image.shape[:2]
        side = min(h, w)
        image = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    shrinking = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def prepare_shard(index_csv: str | Path, dataset_dir: str | Path, split: str, shard: int, out_npz: str | Path,
                  size: int, crop: list[int] | None = None) -> int:
    """Write one shard: ``images`` uint8 (N, size, size, 3), ``names`` (N,) file names and ``rows`` (N,) index rows."""
    index = pd.read_csv(index_csv)
    rows = index[(index["split"] == split) & (index["shard"] == int(shard))]
    if rows.empty:
        raise ValueError(f"{index_csv} lists no images for split {split!r} shard {shard}")
    images = np.empty((len(rows), size, size, 3), dtype=np.uint8)
    for i, rel in enumerate(rows["path"]):
        images[i] = crop_resize(load_image(Path(dataset_dir) / rel), size, crop)
    save_npz(out_npz, images=images, names=rows["path"].to_numpy(dtype=str), rows=rows.index.to_numpy(dtype=np.int64))
    log.info("%s %s/%s: %d images at %dpx", dataset_dir, split, shard, len(rows), size)
    return len(rows)


def mean_image(shard_paths: list[str | Path], out_npy: str | Path) -> np.ndarray:
    """Pixel-wise mean of the images of ``shard_paths`` (float32 (H, W, 3) in [0, 1]), streamed shard by shard."""
    total, count = None, 0
    for path in shard_paths:
        images = load_npz(path)["images"].astype(np.float64)
        total = images.sum(axis=0) if total is None else total + images.sum(axis=0)
        count += len(images)
    mean = (total / count / 255.0).astype(np.float32)
    with atomic_path(out_npy) as tmp:
        np.save(tmp, mean)
    return mean
