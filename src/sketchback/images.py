"""Checks and grey conversion of uint8 photos, shared by the sketch methods (sketch.py, style.py)."""

from __future__ import annotations

import cv2
import numpy as np


def check_image(image: np.ndarray, name: str = "image") -> None:
    """Raise a clear error unless ``image`` is a uint8 (H,W) or (H,W,3) array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8 (values 0..255), got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"{name} must be grey (H,W) or RGB (H,W,3), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")


def check_seed(seed) -> int:
    """``seed`` as an int; ValueError unless it is an integer >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB photo (ITU-R BT.601 weights, as cv2 uses).

    image: uint8 (H,W,3) RGB or (H,W) grey, 0..255.  Returns a new uint8 (H,W) array, 0..255.
    """
    check_image(image)
    if image.ndim == 2:
        return image.copy()
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def grey_chunk(images: np.ndarray) -> np.ndarray:
    """uint8 (m,H,W,3) RGB or (m,H,W) grey -> uint8 (m,H,W) luma, one cv2 call (it is per pixel, so
    the chunk can be one tall image)."""
    if images.ndim == 3:
        return images
    m, h, w, _ = images.shape
    return cv2.cvtColor(np.ascontiguousarray(images).reshape(m * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(m, h, w)
