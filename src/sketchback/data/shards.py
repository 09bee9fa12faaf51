"""(sketch, photo) pairs from prepared, sketched and augmented shards, as the generator sees them:
the shards memory-mapped where they lie (no copy) and streamed in seeded, prefetched batches."""

from __future__ import annotations

import collections
import concurrent.futures
import math
import zipfile
from pathlib import Path

import numpy as np

from sketchback.io import load_npz


def sketch_to_input(sketches: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) sketches -> float32 (N, H, W, 1) in [0, 1], the generator's input."""
    return (sketches.astype(np.float32) / 255.0)[..., None]


def photo_to_target(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) photos -> float32 (N, H, W, 3) in [0, 1]."""
    return images.astype(np.float32) / 255.0


# --- Training input: the shards memory-mapped where they lie, read as one array, in seeded batches ---

class ShardArray:
    """The same array of several shards, memory-mapped, read as one (N, ...) array without a copy.

    Supports ``len``, ``shape``, ``dtype`` and reading rows by an integer index array (what
    :func:`batches` does); each shard's rows are read from its own file.
    """

    def __init__(self, parts: list[np.ndarray]):
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(part) for part in parts])
        self.shape = (int(self.offsets[-1]), *parts[0].shape[1:])
        self.dtype = parts[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        index = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        which = np.searchsorted(self.offsets, index, side="right") - 1
        out = np.empty((len(index), *self.shape[1:]), self.dtype)
        for part in np.unique(which):
            rows = which == part
            out[rows] = self.parts[part][index[rows] - self.offsets[part]]
        return out


def npz_shape(path: str | Path, key: str) -> tuple[int, ...]:
    """Shape of array ``key`` in an uncompressed ``.npz`` shard, read from its header alone."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
            major, _ = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, _ = read_header(member)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist; rerun the stage that makes it (snakemake {path})") from None
    except KeyError:
        raise ValueError(f"{path} has no '{key}' array; rerun the rule that makes it") from None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a readable .npz shard ({exc}); delete it and rerun its rule") from exc
    return tuple(shape)


def open_pairs(pairs: list[tuple[str | Path, str | Path]]) -> tuple[ShardArray, ShardArray]:
    """(photo shard, sketch shard) pairs as uint8 sketches (N, H, W) and photos (N, H, W, 3), memory-mapped.

    Nothing is copied: the shards are uncompressed ``.npz`` files, mapped where they lie. Their
    headers are checked first: a sketch shard that does not match its photo shard, or shards of
    different sizes, raise ValueError naming the file and the rule to rerun.
    """
    if not pairs:
        raise ValueError("no training shards given")
    shape = None
    for photo_path, sketch_path in pairs:
        images, drawn = npz_shape(photo_path, "images"), npz_shape(sketch_path, "sketches")
        if images[:3] != drawn[:3]:
            raise ValueError(f"{photo_path} holds {images[:3]} photos but {sketch_path} holds "
                             f"{drawn[:3]} sketches; rerun the sketch rule for it")
        if shape is not None and images[1:] != shape:
            raise ValueError(f"{photo_path} holds {images[1:]} images, other shards {shape}; rerun prepare")
        shape = images[1:]
    photos = [load_npz(photo, mmap=True)["images"] for photo, _ in pairs]
    sketches = [load_npz(sketch, mmap=True)["sketches"] for _, sketch in pairs]
    return ShardArray(sketches), ShardArray(photos)


def open_rows(pairs: list[tuple[str | Path, str | Path]]) -> np.ndarray:
    """The dataset row of every pair of :func:`open_pairs` (int64, same order), from the photo shards' ``rows``."""
    rows = []
    for photo_path, _ in pairs:
        with np.load(photo_path, allow_pickle=False) as shard:
            if "rows" not in shard.files:
                raise ValueError(f"{photo_path} has no 'rows' array (the dataset row of each image); rerun the rule "
                                 f"that makes it")
            rows.append(shard["rows"].astype(np.int64))
    return np.concatenate(rows)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of ``n`` pairs in ``epoch``: a pure function of (seed, epoch), so a resumed run sees the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batches(sketches: np.ndarray, photos: np.ndarray, batch_size: int, seed: int, epoch: int,
            start_step: int = 0, prefetch: int = 4, shuffle: bool = True, drop_remainder: bool = False,
            add_hints=None):
    """Yield (step, float32 sketches (B, H, W, 1), float32 photos (B, H, W, 3)) for one epoch.

    add_hints: None, or (sketches (B, H, W, 1), uint8 photos (B, H, W, 3), positions in the arrays,
    epoch) -> the generator's input with colour hints (B, H, W, 5) (``sketchback.sketches.hints.TrainingHints``).

    Batches follow :func:`epoch_order` (or the stored order with ``shuffle=False``) and start at
    ``start_step`` (resuming mid-epoch). The last batch may be smaller (or is left out with
    ``drop_remainder``, as several devices need equal shares). A background thread
    gathers and converts the next ``prefetch`` batches while the caller trains on the current one.
    """
    order = epoch_order(len(sketches), seed, epoch) if shuffle else np.arange(len(sketches))
    n_steps = len(order) // batch_size if drop_remainder else math.ceil(len(order) / batch_size)
    steps = range(start_step, n_steps)

    def load(step):
        # Sorted indices read the memory map front to back; the batch keeps the shuffled order.
        index = order[step * batch_size:(step + 1) * batch_size]
        sorted_index = np.sort(index)
        position = np.searchsorted(sorted_index, index)
        x, truth = sketch_to_input(sketches[sorted_index][position]), photos[sorted_index][position]
        if add_hints is not None:
            x = add_hints(x, truth, index, epoch)
        return step, x, photo_to_target(truth)

    if prefetch <= 0:
        for step in steps:
            yield load(step)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending = collections.deque(pool.submit(load, step) for step in steps[:prefetch])
        for step in steps[prefetch:]:
            ready = pending.popleft().result()
            pending.append(pool.submit(load, step))
            yield ready
        while pending:
            yield pending.popleft().result()
