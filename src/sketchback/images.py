"""Checks and grey conversion of uint8 photos, shared by the sketch methods (sketch.py, style.py), and
the size an image file declares, read before decoding it (the command line's pixel limit)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

# Pillow's decompression-bomb convention: Image.MAX_IMAGE_PIXELS (89,478,485 px, a 24-bit 256 MB
# image) draws a warning, twice it is refused. We refuse above twice it and warn above half the limit.
PILLOW_MAX_IMAGE_PIXELS = 89_478_485
DEFAULT_MAX_PIXELS = 2 * PILLOW_MAX_IMAGE_PIXELS


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


def declared_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) that an image file's header declares, or None when no header can be read.

    Pillow's lazy open reads the header only (PNG IHDR, JPEG SOF, BMP, TIFF IFD, WebP VP8/VP8L/VP8X),
    so a 1 MB file that declares 30000 x 30000 px costs milliseconds, not 900 MB of pixels.
    Open errors (PermissionError, ...) are raised; a file Pillow cannot identify gives None.
    """
    from PIL import Image  # a dependency of matplotlib; imported here so the sketch methods do not load it

    with open(path, "rb") as file, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Corrupt EXIF data" and the like: the caller names the file
        # Pillow's own guard would raise while opening (above 2 x its MAX_IMAGE_PIXELS): the caller's limit rules
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(file) as image:
                return image.size
        except Exception:  # a header parser failing on a hostile or broken file, in any way: not an image we can read
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit
