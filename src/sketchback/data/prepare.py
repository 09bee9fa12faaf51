"""Prepare raw images for training: deterministic split, sharding, crop and resize to NHWC uint8 shards."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from sketchback.io import atomic_path, load_npz, save_npz
from sketchback.data.sources import read_manifest

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def _random_split(frame: pd.DataFrame, fractions: dict, seed: int) -> np.ndarray:
    """Split labels for ``frame``'s rows, shuffled with ``seed`` and cut by ``fractions``.

    With a ``group`` column, whole groups are dealt out (every image of a group lands in one split).
    """
    total = sum(fractions[s] for s in SPLITS)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions {fractions} sum to {total}, not 1")
    grouped = "group" in frame.columns and (frame["group"].astype(str) != "").all()
    units = np.array(sorted(frame["group"].astype(str).unique())) if grouped else np.arange(len(frame))
    order = np.random.default_rng(seed).permutation(len(units))
    n_train = int(round(fractions["train"] * len(units)))
    n_val = int(round(fractions["val"] * len(units)))
    labels = np.empty(len(units), dtype=object)
    labels[order[:n_train]] = "train"
    labels[order[n_train:n_train + n_val]] = "val"
    labels[order[n_train + n_val:]] = "test"
    if grouped:
        return frame["group"].astype(str).map(dict(zip(units, labels))).to_numpy(dtype=object)
    return labels


def split_index(manifest: pd.DataFrame, fractions: dict, shards: dict, seed: int) -> pd.DataFrame:
    """Assign every image a split and a shard.

    An official partition (a ``split`` column in the manifest: train, val or test) is kept; the
    images it leaves unassigned (all of them when there is no such column) are shuffled with
    ``seed`` and cut by ``fractions`` (train/val/test, summing to 1), whole ``group``s at a time
    when the manifest has that column (the views of one building, the photos of one person), so
    no group is split between training and test. Within a split, images are dealt to
    ``shards[split]`` shards in contiguous, nearly equal blocks.
    """
    columns = ["path"] + [c for c in ("split", "group") if c in manifest.columns]
    frame = manifest[columns].copy()
    if "split" in frame.columns:
        frame["split"] = frame["split"].fillna("").astype(str)
        unknown = sorted(set(frame["split"]) - set(SPLITS) - {""})
        if unknown:
            raise ValueError(f"the manifest's split column has {unknown}; only {', '.join(SPLITS)} or empty are allowed")
        free = (frame["split"] == "").to_numpy()
    else:
        free = np.ones(len(frame), dtype=bool)
    if free.any():
        labels = _random_split(frame[free].reset_index(drop=True), fractions, seed)
        if free.all():
            frame["split"] = labels
        else:
            frame.loc[free, "split"] = labels
    pieces = []
    for split in SPLITS:
        part = frame.loc[frame["split"] == split, ["path", "split"]].sort_values("path").reset_index(drop=True)
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


class RejectedImage(ValueError):
    """An image that cannot be used (unreadable, or smaller than the crop box): skipped and listed."""


def _read(path: str | Path, flags: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise RejectedImage(f"image {path} cannot be decoded (corrupt or not an image); delete or replace it")
    return image


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); a clear error names an unreadable file."""
    return cv2.cvtColor(_read(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_grey(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 grey (H, W); a clear error names an unreadable file."""
    return _read(path, cv2.IMREAD_GRAYSCALE)


def crop_resize(image: np.ndarray, size: int, crop: list[int] | None = None) -> np.ndarray:
    """Crop (``[top, left, height, width]``, or the central square when None) and resize to size x size.

    Works on (H, W, 3) and (H, W) images. Resizing interpolates (INTER_AREA when shrinking); it
    never tiles pixels the way np.resize does. An image smaller than the crop box raises
    RejectedImage.
    """
    if crop is not None:
        top, left, height, width = crop
        if top + height > image.shape[0] or left + width > image.shape[1]:
            raise RejectedImage(f"image of {image.shape[1]}x{image.shape[0]} px is smaller than the crop box "
                                f"[top {top}, left {left}, height {height}, width {width}]")
        image = image[top:top + height, left:left + width]
    else:
        h, w = image.shape[:2]
        side = min(h, w)
        image = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    shrinking = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def _handdrawn_lookup(dataset_dir: Path) -> dict[str, str] | None:
    manifest = read_manifest(dataset_dir)
    return dict(zip(manifest["path"], manifest["sketch"])) if "sketch" in manifest.columns else None


def prepare_shard(index_csv: str | Path, dataset_dir: str | Path, split: str, shard: int, out_npz: str | Path,
                  size: int, crop: list[int] | None = None, rejected_csv: str | Path | None = None,
                  *, max_rejected: float) -> int:
    """Write one shard: ``images`` uint8 (N, size, size, 3), ``names`` (N,) file names and ``rows`` (N,) index rows.

    Images that cannot be used (unreadable, missing, smaller than the crop box, or whose hand-drawn
    sketch is unreadable when the dataset has them) are skipped and listed with the reason in
    ``rejected_csv`` (columns path, reason; header only when none). More than ``max_rejected``
    (a fraction of the shard) rejected raises ValueError listing the first ones. Returns N.
    """
    dataset_dir = Path(dataset_dir)
    index = pd.read_csv(index_csv, keep_default_na=False)
    rows = index[(index["split"] == split) & (index["shard"] == int(shard))]
    if rows.empty:
        raise ValueError(f"{index_csv} lists no images for split {split!r} shard {shard}")
    sketches = _handdrawn_lookup(dataset_dir)
    images, kept, rejected = [], [], []
    for count, (row, rel) in enumerate(zip(rows.index, rows["path"]), 1):
        try:
            image = crop_resize(load_image(dataset_dir / rel), size, crop)
            if sketches is not None:
                load_grey(dataset_dir / sketches[rel])  # a pair is only usable with its sketch
        except (FileNotFoundError, RejectedImage) as error:
            rejected.append((rel, str(error)))
            log.warning("rejected %s: %s", rel, error)
            continue
        images.append(image)
        kept.append(row)
        if count % 1000 == 0:
            log.info("%s %s/%s: %d of %d images", dataset_dir, split, shard, count, len(rows))
    if rejected_csv is not None:
        with atomic_path(rejected_csv) as tmp:
            pd.DataFrame(rejected, columns=["path", "reason"]).to_csv(tmp, index=False)
    if len(rejected) > max_rejected * len(rows):
        shown = "; ".join(f"{p}: {r}" for p, r in rejected[:5])
        raise ValueError(f"{dataset_dir} {split}/{shard}: {len(rejected)} of {len(rows)} images rejected "
                         f"({len(rejected) / len(rows):.1%}, more than the {max_rejected:.1%} allowed by max_rejected): "
                         f"{shown}")
    stack = np.stack(images) if images else np.empty((0, size, size, 3), dtype=np.uint8)
    kept_rows = rows.loc[kept]
    save_npz(out_npz, images=stack, names=kept_rows["path"].to_numpy(dtype=str), rows=kept_rows.index.to_numpy(dtype=np.int64))
    log.info("%s %s/%s: %d images at %dpx, %d rejected", dataset_dir, split, shard, len(kept_rows), size, len(rejected))
    return len(kept_rows)


def handdrawn_shard(photo_npz: str | Path, dataset_dir: str | Path, out_npz: str | Path, size: int,
                    crop: list[int] | None = None) -> int:
    """The hand-drawn sketches of a prepared photo shard, aligned with it, as a sketch shard.

    Writes ``sketches`` uint8 (N, size, size) and ``names`` (the photos' names), the format of
    ``sketchback.sketches.sketch.sketch_shard``. Each sketch gets the photo's crop and resize (after being
    resized to the photo's size if the two differ), so photo and sketch stay pixel-aligned.
    """
    dataset_dir = Path(dataset_dir)
    names = load_npz(photo_npz)["names"]
    lookup = _handdrawn_lookup(dataset_dir)
    if lookup is None:
        raise ValueError(f"{dataset_dir / 'manifest.csv'} lists no hand-drawn sketches (no 'sketch' column): only "
                         f"sources with hand-drawn sketches (cuhk) have a 'handdrawn' sketch shard")
    sketches = np.empty((len(names), size, size), dtype=np.uint8)
    for i, name in enumerate(names):
        sketch = load_grey(dataset_dir / lookup[str(name)])
        photo_shape = load_grey(dataset_dir / str(name)).shape
        if sketch.shape != photo_shape:
            log.warning("%s is %s px, its photo %s is %s px: resizing the sketch to the photo's size",
                        lookup[str(name)], sketch.shape[::-1], name, photo_shape[::-1])
            sketch = cv2.resize(sketch, photo_shape[::-1], interpolation=cv2.INTER_AREA)
        sketches[i] = crop_resize(sketch, size, crop)
    save_npz(out_npz, sketches=sketches, names=names)
    log.info("%s: %d hand-drawn sketches at %dpx", out_npz, len(names), size)
    return len(names)


def mean_image(shard_paths: list[str | Path], out_npy: str | Path) -> np.ndarray:
    """Pixel-wise mean of the images of ``shard_paths`` (float32 (H, W, 3) in [0, 1]), streamed shard by shard."""
    # Exact integer sums over memory-mapped shards: no float64 copy of a shard (1 GB for a CelebA
    # one), and the same result as summing in float64, since every partial sum is an integer < 2**53.
    total, count = None, 0
    for path in shard_paths:
        images = load_npz(path, mmap=True)["images"]
        sums = images.sum(axis=0, dtype=np.uint64)
        total = sums if total is None else total + sums
        count += len(images)
    mean = (total / count / 255.0).astype(np.float32)
    with atomic_path(out_npy) as tmp:
        np.save(tmp, mean)
    return mean
