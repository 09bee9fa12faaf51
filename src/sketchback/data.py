"""Load (sketch, photo) training pairs from prepared, sketched and augmented shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sketchback.io import load_npz


def sketch_to_input(sketches: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) sketches -> float32 (N, H, W, 1) in [0, 1], the generator's input."""
    return (sketches.astype(np.float32) / 255.0)[..., None]


def photo_to_target(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) photos -> float32 (N, H, W, 3) in [0, 1]."""
    return images.astype(np.float32) / 255.0


def load_pairs(pairs: list[tuple[str | Path, str | Path]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate shards into generator inputs and targets.

    ``pairs`` lists (photo shard, sketch shard); the photo shard holds ``images``, the sketch
    shard ``sketches`` (an augmented shard holds both and is given twice).
    Returns float32 sketches (N, H, W, 1) and photos (N, H, W, 3), both in [0, 1].
    """
    if not pairs:
        raise ValueError("no training shards given")
    sketches, photos = [], []
    for photo_path, sketch_path in pairs:
        images = load_npz(photo_path)["images"]
        drawn = load_npz(sketch_path)["sketches"]
        if images.shape[:3] != drawn.shape[:3]:
            raise ValueError(f"{photo_path} holds {images.shape[:3]} photos but {sketch_path} holds {drawn.shape[:3]} sketches; rerun the sketch rule for it")
        photos.append(images)
        sketches.append(drawn)
    return sketch_to_input(np.concatenate(sketches)), photo_to_target(np.concatenate(photos))
