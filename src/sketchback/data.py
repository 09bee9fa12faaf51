"""(sketch, photo) pairs from prepared, sketched and augmented shards, as the generator sees them:
packed into memory-mapped arrays and streamed in seeded, prefetched batches for training."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from sketchback.io import atomic_path, file_signature, load_npz


def sketch_to_input(sketches: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) sketches -> float32 (N, H, W, 1) in [0, 1], the generator's input."""
    return (sketches.astype(np.float32) / 255.0)[..., None]


def photo_to_target(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) photos -> float32 (N, H, W, 3) in [0, 1]."""
    return images.astype(np.float32) / 255.0


# --- Training input: shards packed once into memory-mapped arrays, then streamed in batches ---

PACK_VERSION = 1


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


def pack_pairs(pairs: list[tuple[str | Path, str | Path]], directory: str | Path) -> Path:
    """Copy (photo shard, sketch shard) pairs into two uint8 ``.npy`` files a training run can memory-map.

    Writes ``directory/sketches.npy`` (N, H, W) and ``directory/photos.npy`` (N, H, W, 3) one shard
    at a time (memory use stays one shard), then ``directory/pack.json`` listing the shards with
    their sizes and modification times. A directory whose ``pack.json`` matches ``pairs`` is reused
    as it is; anything else there is rewritten. ``pack.json`` is written last, so an interrupted
    pack never looks complete. Returns ``directory``.
    """
    if not pairs:
        raise ValueError("no training shards given")
    directory = Path(directory)
    signature = {"version": PACK_VERSION, "shards": [[file_signature(p), file_signature(s)] for p, s in pairs]}
    marker = directory / "pack.json"
    if marker.exists() and json.loads(marker.read_text()) == signature:
        return directory
    marker.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)

    # First pass: array headers only, to size the output files.
    counts, shape = [], None
    for photo_path, sketch_path in pairs:
        images, drawn = npz_shape(photo_path, "images"), npz_shape(sketch_path, "sketches")
        if images[:3] != drawn[:3]:
            raise ValueError(f"{photo_path} holds {images[:3]} photos but {sketch_path} holds "
                             f"{drawn[:3]} sketches; rerun the sketch rule for it")
        if shape is not None and images[1:] != shape:
            raise ValueError(f"{photo_path} holds {images[1:]} images, other shards {shape}; rerun prepare")
        shape = images[1:]
        counts.append(images[0])
    n = sum(counts)
    sketches = np.lib.format.open_memmap(directory / "sketches.npy", mode="w+", dtype=np.uint8, shape=(n, *shape[:2]))
    photos = np.lib.format.open_memmap(directory / "photos.npy", mode="w+", dtype=np.uint8, shape=(n, *shape))
    start = 0
    for (photo_path, sketch_path), count in zip(pairs, counts):
        photos[start:start + count] = load_npz(photo_path)["images"]
        sketches[start:start + count] = load_npz(sketch_path)["sketches"]
        start += count
    sketches.flush()
    photos.flush()
    del sketches, photos
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps(signature))
    return directory


def open_packed(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Memory-map a packed directory: uint8 sketches (N, H, W) and photos (N, H, W, 3)."""
    directory = Path(directory)
    if not (directory / "pack.json").exists():
        raise FileNotFoundError(f"{directory} holds no complete packed training data (pack.json missing); pack it with pack_pairs")
    return (np.load(directory / "sketches.npy", mmap_mode="r"), np.load(directory / "photos.npy", mmap_mode="r"))


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of ``n`` pairs in ``epoch``: a pure function of (seed, epoch), so a resumed run sees the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batches(sketches: np.ndarray, photos: np.ndarray, batch_size: int, seed: int, epoch: int,
            start_step: int = 0, prefetch: int = 4, shuffle: bool = True, drop_remainder: bool = False):
    """Yield (step, float32 sketches (B, H, W, 1), float32 photos (B, H, W, 3)) for one epoch.

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
        return step, sketch_to_input(sketches[sorted_index][position]), photo_to_target(photos[sorted_index][position])

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
